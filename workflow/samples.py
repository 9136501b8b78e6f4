"""The samples the pipeline builds, and how each one is made.

``builder`` says where an engine comes from: ``onnx`` (the ONNX parser, from a graph exported by
PyTorch or TensorFlow), ``api`` (the network API, layer by layer from a ``.wts`` file) or
``refit`` (a refittable engine built with dummy weights and refitted, GPU hosts only).
``weights`` names the sample whose trained weights it uses. ``task`` is what the sample is
scored on: ``classify`` (top-1/top-5 on digits) or ``detect`` (mAP on a detection set).
"""

SAMPLES: dict[str, dict[str, object]] = {
    "mnist": {
        "builder": "onnx",
        "train": "torch",
        "network": "lenet",
        "weights": "mnist",
        "task": "classify",
    },
    "mnist_api": {
        "builder": "api",
        "train": None,
        "network": "lenet",
        "weights": "mnist",
        "task": "classify",
    },
    "mlp": {
        "builder": "api",
        "train": "torch",
        "network": "mlp",
        "weights": "mlp",
        "task": "classify",
    },
    "mnist_tf": {
        "builder": "onnx",
        "train": "keras",
        "network": "lenet",
        "weights": "mnist_tf",
        "task": "classify",
    },
    "mnist_refit": {
        "builder": "refit",
        "train": None,
        "network": "lenet",
        "weights": "mnist",
        "task": "classify",
    },
    "ssd": {
        "builder": "onnx",
        "train": "ssd",
        "network": "ssd",
        "weights": "ssd",
        "task": "detect",
    },
}
#: What each task's score file is called and the metrics compared across precisions.
TASK_SCORES = {"classify": ("accuracy.json", ("top1", "top5")), "detect": ("map.json", ("map",))}
#: Precisions each builder makes; network-API and refit engines are FP32.
BUILDER_PRECISIONS = {
    "onnx": ("fp32", "fp16", "int8"),
    "api": ("fp32",),
    "refit": ("fp32",),
}


def samples_with(key: str, *values: object) -> list[str]:
    """Names of the samples whose ``key`` is one of ``values``."""
    return [name for name, spec in SAMPLES.items() if spec[key] in values]
