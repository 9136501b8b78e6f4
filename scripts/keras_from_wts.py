"""Rule keras_from_wts: the weights sample's .wts (PyTorch names and layouts) loaded into the
same network written in Keras, saved as a .keras file."""

from workflow.formats.wts import read_wts
from workflow.io import atomic_path
from workflow.logs import log_to
from workflow.models.keras_imagenet import keras_image_network

log_to(snakemake.log[0])
model = keras_image_network(
    snakemake.params.network,
    read_wts(snakemake.input.wts),
    size=snakemake.params.input_size,
    source=snakemake.input.wts,
)
with atomic_path(snakemake.output.model) as tmp:
    model.save(tmp.with_suffix(".keras"))
    tmp.with_suffix(".keras").replace(tmp)
