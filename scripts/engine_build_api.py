"""Rule engine_build_api: .wts -> TensorRT network built layer by layer -> serialized engine
(int4w: the dense layers' weights as blocked INT4, checked against the int4w graph's)."""

from pathlib import Path

from workflow.formats.wts import read_wts
from workflow.io import sha256_file, write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.netdef.layers import check_int4_graph, check_network, layers_for, populate_network
from workflow.trt.config import BuildConfig
from workflow.trt.layers import engine_layer_report
from workflow.trt.loader import engine_bytes_from_network

log_to(snakemake.log[0])
layers = layers_for(
    snakemake.params.network,
    read_wts(snakemake.input.wts),
    mlp_sizes=list(snakemake.params.mlp_sizes),
)
block = snakemake.params.int4_block
if block:  # the INT4 values ONNX Runtime scores are the ones the network gets
    check_int4_graph(layers, Path(snakemake.input.reference).read_bytes(), block_size=block)


def populate(trt, network):
    keep = populate_network(trt, network, layers, int4_block=block)
    # layer types, shapes and weight checksums, before building
    check_network(network, layers, int4_block=block)
    return keep


built = engine_bytes_from_network(
    populate,
    source={"path": snakemake.input.wts, "sha256": sha256_file(snakemake.input.wts)},
    build=BuildConfig.from_params(snakemake.params.build),
    plugin_libraries=[snakemake.input.plugins] if "plugins" in snakemake.input.keys() else [],
)
write_json_atomically(
    snakemake.output.meta, built.meta | {"reference_onnx": snakemake.input.reference}
)
write_atomically(snakemake.output.plan, built.plan)
report = engine_layer_report(
    built.layer_log,
    onnx_bytes=None,
    intended=snakemake.wildcards.precision,
    plan=snakemake.output.plan,
)
write_json_atomically(snakemake.output.layers, report)
