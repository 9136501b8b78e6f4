"""Rule engine_build_charrnn: the dumpTFWts .wts2 -> the character model built layer by layer
with the network API (a loop per LSTM layer, TopK for the next character), checked against
the description, in FP32, FP16 or INT4 weight-only (int4w: the matrix products' weights as
blocked INT4) -> serialized engine and its layer report."""

from workflow.formats.wts import read_wts
from workflow.io import sha256_file, write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.netdef.charrnn import charrnn_from_blobs, check_charrnn_network, populate_charrnn
from workflow.trt.config import BuildConfig
from workflow.trt.layers import engine_layer_report
from workflow.trt.loader import engine_bytes_from_network

log_to(snakemake.log[0])
precision = snakemake.wildcards.precision
net = charrnn_from_blobs(read_wts(snakemake.input.wts2), source=snakemake.input.wts2)
build = BuildConfig.from_params(snakemake.params.build)
steps = snakemake.params.steps
low, opt, high = build.batch
shapes = {
    "tokens": {"min": [low, steps["min"]], "opt": [opt, steps["opt"]], "max": [high, steps["max"]]}
}
for state in ("h0", "c0"):
    shapes[state] = {
        key: [net.layers, batch, net.hidden]
        for key, batch in zip(("min", "opt", "max"), build.batch, strict=True)
    }
found = {}


block = snakemake.params.int4_block


def populate(trt, network):
    keep = populate_charrnn(trt, network, net, precision=precision, int4_block=block)
    found.update(check_charrnn_network(network, net, precision=precision, int4_block=block))
    return keep


built = engine_bytes_from_network(
    populate,
    source={"path": snakemake.input.wts2, "sha256": sha256_file(snakemake.input.wts2)},
    build=build,
    shapes=shapes,
)
write_json_atomically(
    snakemake.output.meta, built.meta | {"reference_onnx": snakemake.input.reference}
)
write_atomically(snakemake.output.plan, built.plan)
report = engine_layer_report(
    built.layer_log, onnx_bytes=None, intended=precision, plan=snakemake.output.plan
)
report["network"] = found
write_json_atomically(snakemake.output.layers, report)
