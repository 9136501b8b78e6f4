import hashlib

import onnx
import pytest

from workflow.data.mnist import embedded_digits, to_input
from workflow.errors import ToleranceError
from workflow.models.export import onnx_from_torch, onnx_parity
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, lenet, with_softmax

NAMES = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME}


@pytest.fixture(scope="module")
def exported():
    import torch

    torch.manual_seed(0)
    model = with_softmax(lenet())
    inputs = to_input(embedded_digits()[0][:64])
    return model, inputs, onnx_from_torch(model, inputs, opset=18, **NAMES)


@pytest.mark.slow
def test_export_has_a_dynamic_batch_and_no_source_paths(exported):
    _, _, graph = exported
    proto = onnx.load_from_string(graph)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    assert b"/workflow/" not in graph and b".py" not in graph


@pytest.mark.slow
def test_export_is_deterministic(exported):
    model, inputs, graph = exported
    again = onnx_from_torch(model, inputs, opset=18, **NAMES)
    assert hashlib.sha256(again).digest() == hashlib.sha256(graph).digest()


def test_parity_on_real_digits(exported):
    model, inputs, graph = exported
    report = onnx_parity(model, graph, inputs, batch_size=10, tolerance=1e-5, **NAMES)
    assert report["count"] == 64 and report["max_abs_diff"] <= 1e-5


def test_parity_failure_names_the_numbers(exported):
    import torch

    _, inputs, graph = exported
    torch.manual_seed(1)
    other = with_softmax(lenet())
    with pytest.raises(ToleranceError, match="differ by up to .* over 64 inputs, tolerance 1e-05"):
        onnx_parity(other, graph, inputs, batch_size=64, tolerance=1e-5, **NAMES)
