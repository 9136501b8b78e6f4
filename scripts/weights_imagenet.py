"""Rule weights_imagenet: torchvision's ImageNet weights of the sample's network (downloaded or
placed by hand, checksum checked) as the pipeline's weights.pt, in place of training."""

from workflow.data.download import check_md5
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.imagenet import load_torchvision_weights

log_to(snakemake.log[0])
url, checksum = snakemake.params.official
check_md5(snakemake.input.pth, checksum, url=url)
classes = read_classes(f"{snakemake.input.data}/classes.txt")
model = load_torchvision_weights(
    snakemake.params.network, snakemake.input.pth, classes=len(classes)
)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
