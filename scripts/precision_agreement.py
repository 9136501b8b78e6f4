"""Rule precision_agreement: the FP16 / INT8 graph against FP32 on evaluation inputs -> JSON
(per output errors, cosine, SNR, argmax agreement, your metric) and a chart of the SNR."""

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.report.agreement import json_ready, plot_agreement
from workflow.score.agreement import agreement_from_folder

log_to(snakemake.log[0])
precision = snakemake.wildcards.precision
calibration = f"results/calibrate/{snakemake.wildcards.model}/batches"
report = json_ready(
    agreement_from_folder(
        snakemake.input.fp32,
        snakemake.input.graph,
        snakemake.input.feeds,
        source="calibration" if snakemake.input.feeds == calibration else "evaluation",
        precision=precision,
        max_batches=snakemake.params.max_batches,
        argmax_outputs=list(snakemake.params.argmax_outputs),
        metric=snakemake.params.metric,
        threads=snakemake.params.threads,
    )
)
write_json_atomically(snakemake.output.report, report)
title = f"{snakemake.wildcards.model}: {precision.upper()} against FP32"
write_atomically(snakemake.output.plot, plot_agreement(report, title=title))
