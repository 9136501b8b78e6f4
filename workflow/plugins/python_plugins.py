"""The sample plugins as Python plugins (``tensorrt.plugin``, TensorRT 10.6 and later), for users
without a C++ toolchain: the same op types and fields as the C++ library, in the namespace
``trt_samples_py`` (ONNX nodes pick it with ``plugin_namespace``), computed by the Triton kernels
of :mod:`workflow.plugins.triton_kernels` on torch views of TensorRT's tensors.

Written against TensorRT's documented ``tensorrt.plugin`` API; not run here: no machine of this
project has a TensorRT with plugins (TensorRT-RTX's plugin module does not import, and the GPU
machine has no TensorRT). The Triton kernels themselves are checked on the GPU
(``scripts/cli/verify_plugins.py``).
"""

from typing import Any

from workflow.plugins import triton_kernels
from workflow.plugins.spec import FIELDS

#: The namespace of the Python plugins (the C++ ones use ``trt_samples``).
NAMESPACE = "trt_samples_py"
_DONE: list[bool] = []


def register_python_plugins() -> list[str]:
    """Register ``trt_samples_py::FCPlugin`` and ``trt_samples_py::ClipPlugin`` with TensorRT's
    plugin registry (once per process); return their qualified names.

    Raises:
        ModuleNotFoundError: no full TensorRT with ``tensorrt.plugin`` (or no torch / Triton).
    """
    import numpy as np
    import numpy.typing as npt
    import tensorrt.plugin as trtp
    import torch

    names = [f"{NAMESPACE}::FCPlugin", f"{NAMESPACE}::ClipPlugin"]
    if _DONE:
        return names

    @trtp.register(names[0])
    def fc_description(
        x: trtp.TensorDesc,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        outFeatures: int,  # noqa: N803 (the field's name)
    ) -> trtp.TensorDesc:
        out = x.like()
        out.shape_expr = trtp.ShapeExprs(2)
        out.shape_expr[0] = x.shape_expr[0]
        out.shape_expr[1] = outFeatures
        return out

    @trtp.impl(names[0])
    def fc_impl(
        x: trtp.Tensor,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        outFeatures: int,  # noqa: N803
        outputs: tuple[trtp.Tensor],
        stream: int,
    ) -> None:
        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            inp = torch.as_tensor(x, device="cuda")
            out = torch.as_tensor(outputs[0], device="cuda")
            flat = inp.reshape(inp.shape[0], -1)
            w = torch.from_numpy(weights.reshape(outFeatures, -1)).to("cuda", inp.dtype)
            b = torch.from_numpy(bias).to("cuda", inp.dtype)
            triton_kernels.fully_connected(flat, w, b, out)

    @trtp.register(names[1])
    def clip_description(x: trtp.TensorDesc, clipMin: float, clipMax: float) -> trtp.TensorDesc:  # noqa: N803
        return x.like()

    @trtp.impl(names[1])
    def clip_impl(
        x: trtp.Tensor,
        clipMin: float,  # noqa: N803
        clipMax: float,  # noqa: N803
        outputs: tuple[trtp.Tensor],
        stream: int,
    ) -> None:
        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            inp = torch.as_tensor(x, device="cuda")
            triton_kernels.clip(inp, torch.as_tensor(outputs[0], device="cuda"), clipMin, clipMax)

    _DONE.append(True)
    return names


def describe() -> dict[str, Any]:
    """What the Python plugins register (for listings): name -> fields."""
    return {f"{NAMESPACE}::{op}": dict(fields) for op, fields in FIELDS.items()}
