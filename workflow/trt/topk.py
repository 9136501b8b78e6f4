"""TopK added to a parsed network with the network API, as sampleMovieLens does.

The recommender's ONNX graph outputs a probability per candidate movie (``scores``, (N, K)); the
engine should answer the query itself: the best ``k`` movies and their probabilities. After the
ONNX parser has filled the network, a TopK layer (MAX over the candidates axis) takes the
scores, a Gather in element mode picks the matching movie ids from the ``movies`` input, and
these two become the outputs in place of ``scores``.
"""

from types import ModuleType
from typing import Any

from workflow.errors import PipelineError


def add_top_k(
    trt: ModuleType,
    network: Any,
    *,
    k: int,
    scores: str = "scores",
    candidates: str = "movies",
    names: tuple[str, str] = ("top_movies", "top_scores"),
) -> None:
    """Replace output ``scores`` (N, K) by the top ``k`` candidates' ids and scores.

    Args:
        trt: the TensorRT module.
        network: a network the ONNX parser filled.
        k: how many to keep (TensorRT's TopK allows up to 3840).
        scores: the output holding a score per candidate.
        candidates: the input holding the candidate ids, shaped like ``scores``.
        names: the new outputs (ids, scores).

    Raises:
        PipelineError: the network has no such output or input, or ``k`` is out of range.
    """
    outputs = {t.name: t for t in map(network.get_output, range(network.num_outputs))}
    inputs = {t.name: t for t in map(network.get_input, range(network.num_inputs))}
    if scores not in outputs or candidates not in inputs:
        raise PipelineError(
            "engine top k",
            f"needs output {scores!r} and input {candidates!r}; the network has outputs "
            f"{sorted(outputs)} and inputs {sorted(inputs)}",
        )
    width = inputs[candidates].shape[-1]
    if not 1 <= k <= (width if width > 0 else 3840):
        raise PipelineError("score.recommend.k", f"{k} with {width} candidates per query")
    top = network.add_topk(outputs[scores], trt.TopKOperation.MAX, k, 1 << 1)
    top.name = "top_k"
    ids = network.add_gather_v2(inputs[candidates], top.get_output(1), trt.GatherMode.ELEMENT)
    ids.axis = 1
    ids.name = "top_k_ids"
    network.unmark_output(outputs[scores])
    ids.get_output(0).name, top.get_output(0).name = names
    network.mark_output(ids.get_output(0))
    network.mark_output(top.get_output(0))
