"""Rule precision_int4w: FP32 graph (+ calibration batches for AWQ) -> INT4 weight-only graph."""

from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.calibrate import batches_from_folder
from workflow.quant.int4 import int4_weight_only

log_to(snakemake.log[0])
batches = snakemake.input.get("batches")
graph = int4_weight_only(
    Path(snakemake.input.onnx).read_bytes(),
    block_size=snakemake.params.block_size,
    source=f"{snakemake.input.onnx} (sample {snakemake.wildcards.model})",
    batches=batches_from_folder(batches) if batches else None,
    awq_grid=snakemake.params.awq_grid,
    threads=snakemake.params.threads,
)
write_atomically(snakemake.output.onnx, graph)
