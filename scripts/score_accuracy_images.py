"""Rule score_accuracy_images: an image classifier's top-1/top-5 accuracy over the test images
(decoded batch by batch), and its hello world: the top five classes of each class's first test
image."""

from workflow.data.objects import list_image_split, network_input_batches
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.lenet import OUTPUT_NAME
from workflow.repro import settings
from workflow.score.classify import accuracy, predict_batches, top_classes_report
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
params = snakemake.params
test, classes = list_image_split(snakemake.input.data, "test")
batches = network_input_batches(
    test, params.preprocess, params.input_size, batch_size=params.batch_size
)
runner = make_runner(
    params.runtime, dict(snakemake.input), module=params.module, threads=params.threads
)
with runner:
    scores = predict_batches(runner, batches, output_name=OUTPUT_NAME)
score = accuracy(scores, test.labels) | {
    "runner": runner.name,
    "runtime": params.runtime,
    "classes": list(classes),
    "reproducibility": settings(threads=params.threads),
}
write_json_atomically(snakemake.output.score, score)
write_atomically(
    snakemake.output.hello, top_classes_report(scores, test.labels, classes, runner=runner.name)
)
