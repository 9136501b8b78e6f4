"""Rules engine_build and engine_build_plugin: ONNX graph -> serialized TensorRT engine, its
metadata and layer report (builder onnx_topk: a TopK layer added to the parsed network; builder
onnx_plugin: the plugin library loaded first)."""

from pathlib import Path

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.trt.config import BuildConfig
from workflow.trt.layers import engine_layer_report
from workflow.trt.loader import engine_bytes_from_onnx
from workflow.trt.topk import add_top_k

log_to(snakemake.log[0])
top_k = snakemake.params.top_k
built = engine_bytes_from_onnx(
    snakemake.input.onnx,
    BuildConfig.from_params(snakemake.params.build),
    edit=(lambda trt, network: add_top_k(trt, network, k=top_k)) if top_k else None,
    plugin_libraries=[snakemake.input.plugins] if "plugins" in snakemake.input.keys() else [],
    dims=snakemake.params.dims,
)
write_json_atomically(snakemake.output.meta, built.meta)
write_atomically(snakemake.output.plan, built.plan)
layers = engine_layer_report(  # a log it cannot read gives a report naming the error
    built.layer_log,
    onnx_bytes=Path(snakemake.input.onnx).read_bytes(),
    intended=snakemake.wildcards.precision,
    plan=snakemake.output.plan,
)
write_json_atomically(snakemake.output.layers, layers)
