"""Rule onnx_export_darknet: darknet cfg + .weights -> ONNX (one output per [yolo] head),
checked against the PyTorch model built from the same cfg and weights on test scenes.

The heads output raw logits (tens, not probabilities), so each head's tolerance is
``onnx.tolerance`` times its largest absolute value (at least 1): float32 rounding is relative.
"""

import numpy as np
import torch

from workflow.data.download import check_files
from workflow.data.images import read_pnm_folder
from workflow.formats.darknet import read_cfg, read_weights
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.darknet import darknet_model, load_darknet_weights
from workflow.models.export import parity_report
from workflow.models.yolo import network_input
from workflow.netdef.darknet import INPUT_NAME, onnx_from_darknet

log_to(snakemake.log[0])
params = snakemake.params
official = {role: params.official[role] for role in ("cfg", "weights") if role in params.official}
check_files(dict(snakemake.input), official)  # the official files, placed by hand or fetched
network = read_cfg(snakemake.input.cfg)
weights = read_weights(snakemake.input.weights, network)
graph = onnx_from_darknet(network, weights, opset=params.opset)
model = darknet_model(network).eval()
load_darknet_weights(model, network, weights)
inputs = network_input(read_pnm_folder(snakemake.input.test)[0][: params.parity_images], network)


def outputs(batch: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.numpy() for t in model(torch.from_numpy(batch))]


expected = outputs(inputs)
parity = {
    f"yolo{k}": parity_report(
        expected[k],
        graph,
        inputs,
        input_name=INPUT_NAME,
        output_name=f"yolo{k}",
        batch_size=params.batch_size,
        tolerance=params.tolerance * max(1.0, float(np.abs(expected[k]).max())),
        framework="PyTorch",
    )
    for k in range(len(expected))
}
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
