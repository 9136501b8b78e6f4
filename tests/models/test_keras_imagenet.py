"""ResNet-50 written in Keras, loaded from a PyTorch .wts: the same outputs as PyTorch."""

import numpy as np
import pytest
import torch

from workflow.errors import FormatError, PipelineError
from workflow.formats.wts import read_wts_v1_bytes, wts_bytes
from workflow.models.imagenet import resnet50
from workflow.models.keras_imagenet import keras_image_network, keras_resnet50


@pytest.fixture(scope="module")
def torch_model():
    torch.manual_seed(0)
    model = resnet50(7, base_width=8)
    for module in model.modules():  # trained-looking batch norms, so that a mix-up shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.2)
            module.running_mean.normal_(0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def blobs(model):
    return {k: v.numpy().astype(np.float32) for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_keras_resnet50_from_a_wts_file_gives_pytorchs_outputs(torch_model):
    # through the .wts v1 text format: flat values, no shapes
    carried = read_wts_v1_bytes(wts_bytes(blobs(torch_model), version=1))
    model = keras_resnet50(carried, size=48)
    x = np.random.default_rng(1).normal(size=(3, 3, 48, 48)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(torch_model(torch.from_numpy(x)), 1).numpy()
    got = model.predict(np.moveaxis(x, 1, -1), verbose=0)
    assert np.abs(expected - got).max() < 1e-5
    assert model.output_names == ["prob"] or model.outputs[0].name.startswith("prob")


@pytest.mark.slow
def test_weights_that_do_not_fit_are_named(torch_model):
    good = blobs(torch_model)
    missing = {k: v for k, v in good.items() if k != "layer3.2.bn1.running_var"}
    with pytest.raises(FormatError, match=r"no tensor layer3.2.bn1.running_var"):
        keras_resnet50(missing, size=32, source="my.wts")
    extra = good | {"layer5.0.conv1.weight": np.zeros(4, np.float32)}
    with pytest.raises(FormatError, match="tensors the network does not use"):
        keras_resnet50(extra, size=32, source="my.wts")
    wrong = good | {"layer1.0.conv2.weight": np.zeros(5, np.float32)}
    with pytest.raises(FormatError, match=r"layer1.0.conv2.weight has shape \(5,\)"):
        keras_resnet50(wrong, size=32, source="my.wts")
    with pytest.raises(FormatError, match="not a ResNet-50"):
        keras_resnet50({"fc1.weight": np.zeros(4, np.float32)}, size=32)
    with pytest.raises(PipelineError, match="not written in Keras"):
        keras_image_network("googlenet", good, size=32)
