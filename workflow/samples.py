"""The samples the pipeline builds, and how each one is made.

``builder`` says where an engine comes from: ``onnx`` (the ONNX parser, from a graph exported by
PyTorch or TensorFlow), ``api`` (the network API, layer by layer from a ``.wts`` file) or
``refit`` (a refittable engine built with dummy weights and refitted, GPU hosts only).
``weights`` names the sample whose trained weights it uses.
"""

SAMPLES: dict[str, dict[str, object]] = {
    "mnist": {"builder": "onnx", "train": "torch", "network": "lenet", "weights": "mnist"},
    "mnist_api": {"builder": "api", "train": None, "network": "lenet", "weights": "mnist"},
    "mlp": {"builder": "api", "train": "torch", "network": "mlp", "weights": "mlp"},
    "mnist_tf": {"builder": "onnx", "train": "keras", "network": "lenet", "weights": "mnist_tf"},
    "mnist_refit": {"builder": "refit", "train": None, "network": "lenet", "weights": "mnist"},
}
#: Precisions each builder makes; network-API and refit engines are FP32.
BUILDER_PRECISIONS = {
    "onnx": ("fp32", "fp16", "int8"),
    "api": ("fp32",),
    "refit": ("fp32",),
}


def samples_with(key: str, *values: object) -> list[str]:
    """Names of the samples whose ``key`` is one of ``values``."""
    return [name for name, spec in SAMPLES.items() if spec[key] in values]
