"""Export PyTorch models to ONNX and check the export against PyTorch."""

import logging
from typing import TYPE_CHECKING

import numpy as np

from workflow.backend.compare import compare
from workflow.errors import ToleranceError
from workflow.logs import timed
from workflow.ort.loader import session_from_onnx
from workflow.repro import settings

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def _feeds(inputs: np.ndarray | dict[str, np.ndarray], input_name: str | None) -> dict:
    """A model's inputs by graph input name: a dict as given, or one float32 array."""
    if isinstance(inputs, dict):
        return inputs
    if input_name is None:
        raise TypeError("an array input needs its input_name")
    return {input_name: np.asarray(inputs, dtype=np.float32)}


def onnx_from_torch(
    model: "torch.nn.Module",
    sample: np.ndarray | dict[str, np.ndarray],
    *,
    input_name: str | None = None,
    output_name: str | tuple[str, ...],
    opset: int,
    dims: dict[int, tuple[str, int, int]] | None = None,
) -> bytes:
    """Export a model to ONNX with a dynamic batch dimension on every input.

    The exporter's per-node metadata (Python stack traces, module paths) is removed so that the
    bytes depend only on the model and the arguments, not on where the code lives.

    Args:
        model: the model, in eval mode.
        sample: an example input batch (its batch size is irrelevant): one float array, or
            arrays by input name (their dtypes kept) for a model of several inputs.
        input_name: name of the graph input, for one array.
        output_name: name of the graph output, or a tuple of names for a model returning a
            tuple of tensors.
        opset: ONNX opset version.
        dims: further dynamic axes of every input, ``{axis: (name, min, max)}`` (an image's
            height and width); None: only the batch.

    Returns:
        The serialised ONNX model, checked by ``onnx.checker``.
    """
    import onnx
    import torch

    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    extra = {
        axis: torch.export.Dim(n, min=lo, max=hi) for axis, (n, lo, hi) in (dims or {}).items()
    }
    feeds = _feeds(sample, input_name)
    with timed(log, f"onnx export | opset {opset}"):
        program = torch.onnx.export(
            model,
            tuple(torch.from_numpy(np.ascontiguousarray(v[:2])) for v in feeds.values()),
            None,
            input_names=list(feeds),
            output_names=[output_name] if isinstance(output_name, str) else list(output_name),
            dynamic_shapes=tuple({0: batch} | extra for _ in feeds),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del proto.graph.metadata_props[:]
    proto.doc_string = ""
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def torch_outputs(model: "torch.nn.Module", images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``images`` in batches without gradients; return float32 outputs."""
    import torch

    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            outputs.append(model(batch).numpy())
    return np.concatenate(outputs).astype(np.float32)


def onnx_parity(
    model: "torch.nn.Module",
    onnx_model: bytes,
    inputs: np.ndarray,
    *,
    input_name: str,
    output_name: str,
    batch_size: int,
    tolerance: float,
) -> dict[str, float | int]:
    """Run the ONNX graph (ONNX Runtime, CPU) and the PyTorch model on the same inputs.

    Args:
        model: the PyTorch model that was exported.
        onnx_model: the exported graph.
        inputs: real test inputs (N, ...), float32.
        input_name: the graph's input.
        output_name: the graph's output compared.
        batch_size: images per batch.
        tolerance: largest allowed absolute difference.

    Returns:
        ``{"count", "max_abs_diff", "mean_abs_diff", "tolerance"}``.

    Raises:
        ToleranceError: the largest absolute difference exceeds ``tolerance``.
    """
    expected = torch_outputs(model, inputs, batch_size=batch_size)
    return parity_report(
        expected,
        onnx_model,
        inputs,
        input_name=input_name,
        output_name=output_name,
        batch_size=batch_size,
        tolerance=tolerance,
        framework="PyTorch",
    )


def parity_report(
    expected: np.ndarray,
    onnx_model: bytes,
    inputs: np.ndarray | dict[str, np.ndarray],
    *,
    input_name: str | None = None,
    output_name: str,
    batch_size: int,
    tolerance: float,
    framework: str,
) -> dict[str, float | int]:
    """Run the ONNX graph (ONNX Runtime, CPU) on ``inputs`` and compare with ``expected``, the
    training framework's outputs for the same inputs (one array named ``input_name``, or
    arrays by input name, batched along their first dimension).

    Returns:
        ``{"count", "max_abs_diff", "mean_abs_diff", "tolerance"}``.

    Raises:
        ToleranceError: the largest absolute difference exceeds ``tolerance``.
    """

    session = session_from_onnx(onnx_model)
    feeds = _feeds(inputs, input_name)
    count = len(next(iter(feeds.values())))
    got = np.concatenate(
        [
            session.run(
                [output_name], {k: v[start : start + batch_size] for k, v in feeds.items()}
            )[0]
            for start in range(0, count, batch_size)
        ]
    )
    (diff,) = compare({output_name: expected}, {output_name: got}, atol=tolerance, rtol=0.0).outputs
    report = {
        "count": int(count),
        "max_abs_diff": diff.max_abs,
        "mean_abs_diff": diff.mean_abs,
        "tolerance": float(tolerance),
        "reproducibility": settings(threads=1),
    }
    log.info("onnx parity with %s | %s", framework, report)
    if not diff.passed:
        raise ToleranceError(
            "onnx export",
            f"ONNX Runtime and {framework} differ by up to {report['max_abs_diff']:.3g} over "
            f"{count} inputs, tolerance {tolerance:.3g}",
            "inspect the exported graph, or raise onnx.tolerance if the difference is expected",
        )
    return report
