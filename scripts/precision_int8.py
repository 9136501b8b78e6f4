"""Rule precision_int8: FP32 graph + dynamic ranges -> INT8 Q/DQ graph."""

from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.qdq import qdq_from_ranges
from workflow.quant.ranges import amax_from_file

log_to(snakemake.log[0])
amax = amax_from_file(
    snakemake.input.ranges,
    source=snakemake.params.source,
    algorithm=snakemake.params.algorithm,
)
graph = qdq_from_ranges(
    Path(snakemake.input.onnx).read_bytes(), amax, source=snakemake.input.ranges
)
write_atomically(snakemake.output.onnx, graph)
