"""The TopK added to a parsed network (builder onnx_topk), built with TensorRT-RTX on CPU."""

import pytest

from tests.conftest import tiny_build, tiny_recommender_bytes
from workflow.errors import PipelineError
from workflow.trt.loader import engine_bytes_from_onnx
from workflow.trt.topk import add_top_k

pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX builds the engines on CPU")


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / "recommender.onnx"
    path.write_bytes(tiny_recommender_bytes())
    return path


def test_engine_answers_with_the_top_movies_and_their_scores(graph):
    built = engine_bytes_from_onnx(
        graph, tiny_build(), edit=lambda trt, network: add_top_k(trt, network, k=2)
    )
    assert built.meta["outputs"] == [
        {"name": "top_movies", "dtype": "int64", "shape": [-1, 2]},
        {"name": "top_scores", "dtype": "float", "shape": [-1, 2]},
    ]
    assert [i["dtype"] for i in built.meta["inputs"]] == ["int64", "int64"]
    plain = engine_bytes_from_onnx(graph, tiny_build())
    assert [o["name"] for o in plain.meta["outputs"]] == ["scores"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"k": 5}, "5 with 4 candidates"), ({"k": 2, "scores": "logits"}, "needs output 'logits'")],
)
def test_bad_top_k_is_refused_before_the_build(graph, settings, message):
    with pytest.raises(PipelineError, match=message):
        engine_bytes_from_onnx(
            graph, tiny_build(), edit=lambda trt, network: add_top_k(trt, network, **settings)
        )
