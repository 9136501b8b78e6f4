"""Rule precision_fp16: FP32 graph -> FP16 graph (FP32 inputs, outputs and fragile ops)."""

from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.fp16 import fp16_from_fp32

log_to(snakemake.log[0])
graph = fp16_from_fp32(
    Path(snakemake.input.onnx).read_bytes(), keep_fp32=list(snakemake.params.keep_fp32)
)
write_atomically(snakemake.output.onnx, graph)
