"""Rule engine_build: ONNX graph -> serialized TensorRT engine and its metadata."""

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.trt.loader import build_options, engine_bytes_from_onnx

log_to(snakemake.log[0])
plan, meta = engine_bytes_from_onnx(snakemake.input.onnx, **build_options(snakemake.params.build))
write_json_atomically(snakemake.output.meta, meta)
write_atomically(snakemake.output.plan, plan)
