"""Rule score_accuracy: top-1/top-5 accuracy over the whole test split."""

from workflow.data.mnist import read_split, to_input
from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.models.lenet import OUTPUT_NAME
from workflow.repro import settings
from workflow.score.classify import accuracy, predict
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
runner = make_runner(
    snakemake.params.runtime,
    dict(snakemake.input),
    module=snakemake.params.module,
    threads=snakemake.params.threads,
)
with runner:
    probs = predict(
        runner, to_input(images), batch_size=snakemake.params.batch_size, output_name=OUTPUT_NAME
    )
score = accuracy(probs, labels) | {
    "runner": runner.name,
    "runtime": snakemake.params.runtime,
    "reproducibility": settings(threads=snakemake.params.threads),
}
write_json_atomically(snakemake.output.score, score)
