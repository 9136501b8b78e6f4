"""Rule data_mnist: the configured digit source -> train/test splits as IDX files."""

from workflow.data.mnist import mnist_splits
from workflow.formats.idx import idx_bytes
from workflow.io import write_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
(train_images, train_labels), (test_images, test_labels) = mnist_splits(
    source=snakemake.params.source,
    files=dict(snakemake.input),
    test_fraction=snakemake.params.test_fraction,
    seed=snakemake.params.seed,
    test_count=snakemake.params.test_count,
    base_url=snakemake.params.base_url,
)
write_atomically(snakemake.output.train_images, idx_bytes(train_images))
write_atomically(snakemake.output.train_labels, idx_bytes(train_labels))
write_atomically(snakemake.output.test_images, idx_bytes(test_images))
write_atomically(snakemake.output.test_labels, idx_bytes(test_labels))
