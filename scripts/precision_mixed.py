"""Rule precision_mixed: INT8 graph with the most sensitive quantized nodes kept in FP32 until
the accuracy target holds on a search split and a held-out split -> mixed.onnx and a layer
map JSON (per node: precision, sensitivity, why; summary: INT8 share, achieved numbers)."""

import json

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.quant.ranges import amax_from_file
from workflow.report.agreement import json_ready
from workflow.score.mixed import mixed_from_folder

log_to(snakemake.log[0])
params = snakemake.params
amax = amax_from_file(snakemake.input.ranges, source=params.source, algorithm=params.algorithm)
with open(snakemake.input.sensitivity) as handle:
    sensitivity = json.load(handle)
graph, layers = mixed_from_folder(
    snakemake.input.fp32,
    amax,
    snakemake.input.feeds,
    max_batches=params.max_batches,
    sensitivity=sensitivity,
    source=snakemake.input.ranges,
    target=params.target,
    value=params.value,
    held_out=params.held_out,
    ranking=params.ranking,
    max_evaluations=params.max_evaluations,
    metric=params.metric if params.metric_name else "",
    metric_name=params.metric_name,
    max_drop=params.max_drop if params.metric_name else None,
    fp32_ops=params.fp32_ops,
)
write_atomically(snakemake.output.graph, graph)
write_json_atomically(snakemake.output.layers, json_ready(layers))
