"""Rule weights_tf: dumpTFWts on the trained Keras model -> .wts (v1) and .wts2 (v2)."""

from workflow.formats.wts import wts_bytes
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.keras import import_tensorflow
from workflow.models.weights import blobs_from_keras

log_to(snakemake.log[0])
blobs = blobs_from_keras(import_tensorflow().keras.models.load_model(snakemake.input.model))
write_atomically(snakemake.output.wts, wts_bytes(blobs, version=1))
write_atomically(snakemake.output.wts2, wts_bytes(blobs, version=2))
