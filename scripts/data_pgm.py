"""Rule data_pgm: the first test image of each digit as <digit>.pgm, as the seed ships them."""

from workflow.data.mnist import first_of_each_class, read_split
from workflow.formats.pnm import pnm_bytes
from workflow.io import write_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
for digit, index in enumerate(first_of_each_class(labels)):
    comment = f"digit {digit}: test image {index} of {snakemake.input.images}"
    write_atomically(snakemake.output.pgm[digit], pnm_bytes(images[index], comment=comment))
