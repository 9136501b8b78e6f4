"""Rule score_hello: the seed's hello world: one seeded digit, drawn, classified."""

import logging

from workflow.data.mnist import to_input
from workflow.formats.pnm import read_pnm
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.lenet import OUTPUT_NAME
from workflow.score.classify import hello_digit, hello_report, predict
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
digit = hello_digit(snakemake.params.digit_seed)
pgm = snakemake.input.pgm[digit]
image = read_pnm(pgm)
with make_runner(
    snakemake.params.runtime, dict(snakemake.input), module=snakemake.params.module
) as runner:
    probs = predict(runner, to_input(image[None]), batch_size=1, output_name=OUTPUT_NAME)[0]
report = hello_report(image, probs, source=pgm, label=digit)
logging.getLogger("hello").info("%s\n%s", runner.name, report)
write_atomically(snakemake.output.report, report)
