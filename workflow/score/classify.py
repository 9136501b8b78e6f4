"""Scoring image classifiers, and the seed's "hello world" printout."""

from collections.abc import Iterable

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.errors import PipelineError

#: The seed's ten-level ASCII ramp, darkest last.
ASCII_RAMP = " .:-=+*#%@"


def predict(
    runner: BaseRunner, inputs: np.ndarray, *, batch_size: int, output_name: str
) -> np.ndarray:
    """Run an active runner over ``inputs`` in batches.

    Args:
        runner: an active runner with a single input.
        inputs: network inputs, first axis the batch.
        batch_size: images per call.
        output_name: the output holding class probabilities.

    Returns:
        The concatenated outputs, float32 (N, classes).
    """
    batches = (inputs[start : start + batch_size] for start in range(0, len(inputs), batch_size))
    return predict_batches(runner, batches, output_name=output_name)


def predict_batches(
    runner: BaseRunner, batches: Iterable[np.ndarray], *, output_name: str
) -> np.ndarray:
    """Run an active runner over batches as they come (e.g. decoded one at a time), keeping
    only the outputs.

    Args:
        runner: an active runner with a single input.
        batches: network inputs, first axis the batch; taken one at a time.
        output_name: the output holding class probabilities.

    Returns:
        The concatenated outputs, float32 (N, classes).

    Raises:
        PipelineError: the runner has no ``output_name``, or no batch came.
    """
    (input_name,) = runner.input_metadata()
    outputs = []
    for batch in batches:
        result = runner.infer({input_name: batch})
        if output_name not in result:
            raise PipelineError(runner.name, f"no output {output_name!r}; it has {sorted(result)}")
        outputs.append(np.asarray(result[output_name], dtype=np.float32))
    if not outputs:
        raise PipelineError(runner.name, "no inputs to run", "give at least one image")
    return np.concatenate(outputs)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | int | list[float]]:
    """Top-1 and top-5 accuracy, and top-1 per class.

    Args:
        probs: scores (N, classes); larger is more likely.
        labels: true classes (N,).

    Returns:
        ``{"count", "top1", "top5", "per_class_top1"}``; accuracies in [0, 1].
    """
    labels = np.asarray(labels, dtype=np.int64)
    order = np.argsort(-probs, axis=1, kind="stable")
    top1 = order[:, 0] == labels
    top5 = (order[:, :5] == labels[:, None]).any(axis=1)
    per_class = [
        float(top1[labels == c].mean()) if (labels == c).any() else float("nan")
        for c in range(probs.shape[1])
    ]
    return {
        "count": int(len(labels)),
        "top1": float(top1.mean()),
        "top5": float(top5.mean()),
        "per_class_top1": per_class,
    }


def ascii_art(image: np.ndarray) -> str:
    """Render a uint8 greyscale image with the seed's ramp (one character per pixel)."""
    levels = (image.astype(np.int64) * len(ASCII_RAMP)) // 256
    return "\n".join("".join(ASCII_RAMP[v] for v in row) for row in levels)


def hello_report(image: np.ndarray, probs: np.ndarray, *, source: str, label: int) -> str:
    """The seed's hello-world output: the digit as ASCII art, each probability, the verdict.

    Args:
        image: uint8 (28, 28) digit.
        probs: the network's ten probabilities for it.
        source: where the digit came from (e.g. the PGM path).
        label: the true digit.
    """
    prediction = int(np.argmax(probs))
    lines = [f"Input digit ({source}):", "", ascii_art(image), "", "Output probabilities:"]
    for digit, p in enumerate(probs):
        bar = "*" * int(round(float(p) * 40))
        lines.append(f"  {digit}: {float(p):.4f} {bar}")
    verdict = "PASSED" if prediction == label else "FAILED"
    lines += ["", f"Prediction: {prediction} (true digit {label}) {verdict}"]
    return "\n".join(lines) + "\n"


def hello_digit(seed: int) -> int:
    """The digit the hello world shows: a seeded choice among 0..9, not the clock."""
    return int(np.random.default_rng(seed).integers(10))


def top_classes_report(
    probs: np.ndarray, labels: np.ndarray, classes: list[str] | tuple[str, ...], *, runner: str
) -> str:
    """The image classifiers' hello world (introductory_parser_samples, sampleGoogleNet): for
    the first test image of each class, its five most likely classes and their probabilities.

    Args:
        probs: the network's outputs over the test images (N, classes).
        labels: their true classes (N,).
        classes: class names by label.
        runner: what ran the network.
    """
    labels = np.asarray(labels, np.int64)
    lines = [f"Top five classes of each class's first test image ({runner}):"]
    passed = 0
    for label in np.unique(labels):
        index = int(np.flatnonzero(labels == label)[0])
        order = np.argsort(-probs[index], kind="stable")[:5]
        verdict = "PASSED" if order[0] == label else "FAILED"
        passed += verdict == "PASSED"
        lines.append(f"  test image {index} ({classes[label]}): {verdict}")
        lines += [f"    {float(probs[index, k]):.4f} {classes[k]}" for k in order]
    lines.append(f"{passed} of {len(np.unique(labels))} classes' first image top-1 correct")
    return "\n".join(lines) + "\n"
