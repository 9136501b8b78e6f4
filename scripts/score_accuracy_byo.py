"""Rule score_accuracy_byo: your model over its evaluation batches: top-1 (and top-5 beyond
five classes) for a classifier, else a score file that says there is no task metric."""

import json
from pathlib import Path

import numpy as np

from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.quant.batches import iter_feeds
from workflow.repro import settings
from workflow.score.byo import run_batches, score_own
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
report = json.loads(Path(snakemake.input.report).read_text())
test = np.load(snakemake.input.test)
runner = make_runner(
    snakemake.params.runtime,
    dict(snakemake.input),
    module=snakemake.params.module,
    threads=snakemake.params.threads,
)
with runner:
    outputs = run_batches(
        runner, iter_feeds(snakemake.input.evaluation), report["evaluation"]["real"]
    )
score = score_own(outputs, report, test["labels"]) | {
    "runner": runner.name,
    "runtime": snakemake.params.runtime,
    "classes": test["classes"].tolist(),
    "batch": report["batch"],
    "reproducibility": settings(threads=snakemake.params.threads),
}
write_json_atomically(snakemake.output.score, score)
