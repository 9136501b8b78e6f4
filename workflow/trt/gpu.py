"""What GPU this machine has, through the CUDA runtime bindings (cuda-python)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    """Device 0's name and compute capability, e.g. ``("NVIDIA RTX 4090", "8.9")``."""

    name: str
    compute_capability: str


def gpu_info() -> tuple[GpuInfo | None, str]:
    """Describe CUDA device 0.

    Returns:
        ``(info, "")`` when a GPU is usable, else ``(None, reason)`` where the reason is the CUDA
        runtime's own message (no driver, no device, bindings not installed).
    """
    try:
        from cuda.bindings import runtime as cudart
    except ImportError as err:
        return None, f"cuda-python is not installed ({err})"
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess:
        return None, cudart.cudaGetErrorString(err)[1].decode()
    if not count:
        return None, "no CUDA device"
    err, props = cudart.cudaGetDeviceProperties(0)
    if err != cudart.cudaError_t.cudaSuccess:
        return None, cudart.cudaGetErrorString(err)[1].decode()
    name = props.name.decode(errors="replace").rstrip("\x00")
    return GpuInfo(name, f"{props.major}.{props.minor}"), ""
