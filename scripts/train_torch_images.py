"""Rule train_torch_images: train ResNet-50 or GoogLeNet (torchvision's layout) in PyTorch on
the image classes (seeded, deterministic)."""

from workflow.data.objects import read_image_split, to_network_input
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.imagenet import AUX_WEIGHT, build_image_network
from workflow.models.train import train_classifier

log_to(snakemake.log[0])
params = snakemake.params
train, classes = read_image_split(snakemake.input.data, "train")
cfg = params.train
model = train_classifier(
    lambda: build_image_network(params.network, len(classes), base_width=params.base_width),
    to_network_input(train, params.preprocess, params.input_size),
    train.labels,
    seed=cfg["seed"],
    epochs=cfg["epochs"],
    batch_size=cfg["batch_size"],
    learning_rate=cfg["learning_rate"],
    momentum=cfg["momentum"],
    weight_decay=cfg["weight_decay"],
    threads=cfg["threads"],
    aux_weight=AUX_WEIGHT,
)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
