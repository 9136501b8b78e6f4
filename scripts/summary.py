"""Rule summary: one results page for every sample of the run (workflow/report/summary.py):
summary.json, summary.csv, summary.html (the report's table) and summary.png."""

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.report.summary import csv_bytes, html_bytes, plot_summary, summarize

log_to(snakemake.log[0])
params = snakemake.params
summary = summarize(params.registry, list(params.chosen), list(params.precisions), params.files)
write_atomically(snakemake.output.table, csv_bytes(summary))
write_atomically(snakemake.output.page, html_bytes(summary))
write_atomically(snakemake.output.chart, plot_summary(summary))
write_json_atomically(snakemake.output.summary, summary)
