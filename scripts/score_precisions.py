"""Rule score_precisions: one JSON and one plot comparing the precisions of a sample."""

import json
from pathlib import Path

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.report.precisions import plot_precisions, precision_summary

log_to(snakemake.log[0])
scores = {
    precision: json.loads(Path(path).read_text())
    for precision, path in zip(snakemake.params.precisions, snakemake.input.scores, strict=True)
}
summary = precision_summary(scores, snakemake.params.metrics)
write_json_atomically(snakemake.output.summary, summary)
title = f"{snakemake.wildcards.model}: score per precision"
write_atomically(snakemake.output.plot, plot_precisions(summary, title=title))
