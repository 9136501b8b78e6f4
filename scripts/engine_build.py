"""Rule engine_build: ONNX graph -> serialized TensorRT engine, its metadata and layer report."""

from pathlib import Path

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.trt.config import BuildConfig
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_onnx

log_to(snakemake.log[0])
built = engine_bytes_from_onnx(
    snakemake.input.onnx, BuildConfig.from_params(snakemake.params.build)
)
layers = layer_report(
    parse_layer_log(built.layer_log),
    onnx_bytes=Path(snakemake.input.onnx).read_bytes(),
    intended=snakemake.wildcards.precision,
)
write_json_atomically(snakemake.output.layers, layers)
write_json_atomically(snakemake.output.meta, built.meta)
write_atomically(snakemake.output.plan, built.plan)
