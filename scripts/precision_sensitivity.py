"""Rule precision_sensitivity: per quantized node, the graph outputs against FP32 with only that
node in INT8 and with all but that node in INT8 -> JSON (worst first) and a chart of the worst."""

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.quant.ranges import amax_from_file
from workflow.report.agreement import json_ready
from workflow.report.divergence import plot_sensitivity
from workflow.score.sensitivity import sensitivity_from_folder

log_to(snakemake.log[0])
params = snakemake.params
amax = amax_from_file(snakemake.input.ranges, source=params.source, algorithm=params.algorithm)
calibration = f"results/calibrate/{snakemake.wildcards.model}/batches"
report = json_ready(
    sensitivity_from_folder(
        snakemake.input.fp32,
        amax,
        snakemake.input.feeds,
        source=snakemake.input.ranges,
        feeds_source="calibration" if snakemake.input.feeds == calibration else "evaluation",
        max_batches=params.max_batches,
        metric=params.metric,
        workers=params.threads,
    )
)
write_json_atomically(snakemake.output.report, report)
model, layers = snakemake.wildcards.model, len(report["nodes"])
title = f"{model}: INT8 sensitivity, worst {min(params.worst, layers)} of {layers} layers"
write_atomically(snakemake.output.plot, plot_sensitivity(report, title=title, worst=params.worst))
