"""Rule engine_refit: refittable engine with dummy weights, refitted with the trained ones."""

from workflow.formats.wts import read_wts
from workflow.io import sha256_file, write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.netdef.layers import layers_for
from workflow.trt.config import BuildConfig
from workflow.trt.refit import refit_plan

log_to(snakemake.log[0])
layers = layers_for(
    snakemake.params.network,
    read_wts(snakemake.input.wts),
    mlp_sizes=list(snakemake.params.mlp_sizes),
)
plan, meta = refit_plan(
    layers,
    layer_name=snakemake.params.layer,
    source={"path": snakemake.input.wts, "sha256": sha256_file(snakemake.input.wts)},
    build=BuildConfig.from_params(snakemake.params.build),
)
write_json_atomically(snakemake.output.meta, meta | {"reference_onnx": snakemake.input.reference})
write_atomically(snakemake.output.plan, plan)
