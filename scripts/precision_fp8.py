"""Rule precision_fp8: FP32 graph + dynamic ranges -> FP8 (E4M3) Q/DQ graph."""

from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.fp8 import fp8_from_ranges
from workflow.quant.ranges import amax_from_file

log_to(snakemake.log[0])
amax = amax_from_file(
    snakemake.input.ranges,
    source=snakemake.params.source,
    algorithm=snakemake.params.algorithm,
)
graph = fp8_from_ranges(
    Path(snakemake.input.onnx).read_bytes(), amax, source=snakemake.input.ranges
)
write_atomically(snakemake.output.onnx, graph)
