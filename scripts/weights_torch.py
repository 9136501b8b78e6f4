"""Rule weights_torch: a PyTorch state dict -> .wts (v1, hex) and .wts2 (v2, binary)."""

from workflow.formats.wts import wts_bytes
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.weights import blobs_from_state_dict

log_to(snakemake.log[0])
blobs = blobs_from_state_dict(snakemake.input.weights)
write_atomically(snakemake.output.wts, wts_bytes(blobs, version=1))
write_atomically(snakemake.output.wts2, wts_bytes(blobs, version=2))
