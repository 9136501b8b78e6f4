import hashlib

import numpy as np
import pytest

from workflow.data.mnist import embedded_digits, to_input
from workflow.errors import PipelineError
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.lenet import lenet
from workflow.models.train import train_classifier

ARGS = {
    "epochs": 1,
    "batch_size": 32,
    "learning_rate": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "threads": 2,
}


@pytest.fixture(scope="module")
def digits():
    images, labels = embedded_digits()
    return to_input(images[:256]), labels[:256]


def _digest(x, y, **overrides):
    model = train_classifier(lenet, x, y, **(ARGS | {"seed": 0} | overrides))
    return hashlib.sha256(state_dict_bytes(model)).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(digits):
    x, y = digits
    assert _digest(x, y) == _digest(x, y)
    assert _digest(x, y, seed=1) != _digest(x, y)


def test_lenet_is_the_seed_network():
    import torch

    model = lenet()
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "conv1.weight": (20, 1, 5, 5),
        "conv1.bias": (20,),
        "conv2.weight": (50, 20, 5, 5),
        "conv2.bias": (50,),
        "fc1.weight": (500, 800),
        "fc1.bias": (500,),
        "fc2.weight": (10, 500),
        "fc2.bias": (10,),
    }
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_diverging_training_stops(digits):
    x, y = digits
    with pytest.raises(PipelineError, match="lower train.learning_rate"):
        train_classifier(
            lenet, x * np.float32(1e30), y, **(ARGS | {"seed": 0, "learning_rate": 1e6})
        )
