"""Rule precision_divergence: every tensor of the FP16 / INT8 graph against FP32 on the same
inputs -> JSON (per tensor SNR, cosine, max abs error; the first tensor below the threshold)
and a chart of the SNR along the graph."""

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.report.agreement import json_ready
from workflow.report.divergence import plot_divergence
from workflow.score.divergence import divergence_from_folder

log_to(snakemake.log[0])
precision = snakemake.wildcards.precision
calibration = f"results/calibrate/{snakemake.wildcards.model}/batches"
report = json_ready(
    divergence_from_folder(
        snakemake.input.fp32,
        snakemake.input.graph,
        snakemake.input.feeds,
        source="calibration" if snakemake.input.feeds == calibration else "evaluation",
        precision=precision,
        max_batches=snakemake.params.max_batches,
        threshold_db=snakemake.params.threshold_db,
        threads=snakemake.params.threads,
    )
)
write_json_atomically(snakemake.output.report, report)
title = f"{snakemake.wildcards.model}: {precision.upper()} against FP32, tensor by tensor"
write_atomically(snakemake.output.plot, plot_divergence([report], title=title))
