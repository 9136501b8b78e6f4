"""Rule score_accuracy_byo: your model's top-1/top-5 accuracy over its test split."""

import json
from pathlib import Path

import numpy as np

from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.repro import settings
from workflow.score.classify import accuracy, predict
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
batch = snakemake.params.batch_size
inputs = test["inputs"]
if report["batch"].startswith("static"):  # fed in its own size, the last batch padded
    batch = int(report["input_shape"][0])
    inputs = np.concatenate([inputs, np.zeros_like(inputs[: -len(inputs) % batch])])
with runner:
    scores = predict(runner, inputs, batch_size=batch, output_name=report["output"])
scores = scores[: len(test["labels"])]
score = accuracy(scores, test["labels"]) | {
    "runner": runner.name,
    "runtime": snakemake.params.runtime,
    "classes": test["classes"].tolist(),
    "batch": report["batch"],
    "reproducibility": settings(threads=snakemake.params.threads),
}
write_json_atomically(snakemake.output.score, score)
