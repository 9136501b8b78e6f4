"""The GPU check of the plugins (``scripts/cli/verify_plugins.py``): the C++ library's creators,
serialization round trip and kernels, and the Triton kernels, each against numpy on random
inputs. Needs a CUDA GPU and torch with CUDA (for device memory); the library is loaded with
ctypes, no TensorRT involved."""

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

from workflow.plugins import triton_kernels

#: Symbols the library must export: TensorRT's entry point and the check's functions.
EXPORTED = (
    "getCreators",
    "trt_samples_clip",
    "trt_samples_clip_roundtrip",
    "trt_samples_fc_forward",
    "trt_samples_fc_roundtrip",
    "trt_samples_last_error",
)


def _inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(0, 4, shape).astype(np.float32)


def _clip_reference(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(x.astype(np.float32), lo, hi)


def _error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference, NaN positions required to agree (inf when they do not)."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        return float("inf")
    finite = ~np.isnan(want)
    return float(np.abs(got[finite] - want[finite]).max()) if finite.any() else 0.0


def check_library(library: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Load the plugin library and run its creators and kernels; the largest errors vs numpy.

    FC: (64, 500) x (10, 500)^T + b in FP32 and FP16 (inputs rounded to FP16 for the FP16
    reference, accumulated in float64). Clip: 10,000 values with NaNs and both bounds, in FP32
    and FP16.
    """
    import torch

    lib = ctypes.CDLL(str(library))
    lib.trt_samples_last_error.restype = ctypes.c_char_p
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.trt_samples_fc_roundtrip.argtypes = [f32p, f32p, ctypes.c_int32, ctypes.c_int32]
    lib.trt_samples_clip_roundtrip.argtypes = [ctypes.c_float, ctypes.c_float]
    lib.trt_samples_fc_forward.argtypes = [
        f32p,
        f32p,
        ctypes.c_int32,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int32,
    ]
    lib.trt_samples_clip.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_float,
        ctypes.c_float,
        ctypes.c_int32,
    ]
    rng = np.random.default_rng(seed)
    rows, depth, columns = 64, 500, 10
    weights = rng.normal(0, 0.05, (columns, depth)).astype(np.float32)
    bias = rng.normal(0, 0.1, columns).astype(np.float32)
    report: dict[str, Any] = {
        "fc_roundtrip": lib.trt_samples_fc_roundtrip(
            weights.ctypes.data_as(f32p), bias.ctypes.data_as(f32p), columns, depth
        ),
        "clip_roundtrip": lib.trt_samples_clip_roundtrip(0.0, 6.0),
        "bad_fields_refused": lib.trt_samples_fc_roundtrip(  # no weights: refused
            weights.ctypes.data_as(f32p), bias.ctypes.data_as(f32p), columns, 0
        )
        == -1,
        "bad_fields_message": lib.trt_samples_last_error().decode(),
    }
    x = _inputs(rng, (rows, depth))
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        half = int(dtype == torch.float16)
        xd = torch.from_numpy(x).to("cuda", dtype)
        yd = torch.empty((rows, columns), dtype=dtype, device="cuda")
        status = lib.trt_samples_fc_forward(
            weights.ctypes.data_as(f32p),
            bias.ctypes.data_as(f32p),
            columns,
            depth,
            xd.data_ptr(),
            yd.data_ptr(),
            rows,
            half,
        )
        cast = np.float16 if half else np.float32
        want = x.astype(cast).astype(np.float64) @ weights.astype(cast).astype(
            np.float64
        ).T + bias.astype(cast).astype(np.float64)
        report[f"fc_{name}"] = {
            "status": status,
            "max_abs_error": _error(yd.float().cpu().numpy(), want),
            "max_abs_value": float(np.abs(want).max()),
        }
    values = _inputs(rng, (10_000,))
    values[::97] = np.nan
    values[1::101] = -1e4
    values[2::103] = 1e4
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        xd = torch.from_numpy(values).to("cuda", dtype)
        yd = torch.empty_like(xd)
        status = lib.trt_samples_clip(
            xd.data_ptr(), yd.data_ptr(), values.size, 0.0, 6.0, int(dtype == torch.float16)
        )
        source, result = xd.float().cpu().numpy(), yd.float().cpu().numpy()
        report[f"clip_{name}"] = {
            "status": status,
            "max_abs_error": _error(result, _clip_reference(source, 0.0, 6.0)),
            "nan_kept": bool(
                np.array_equal(np.isnan(result), np.isnan(source)) and np.isnan(result).any()
            ),
        }
    return report


def check_triton(*, seed: int = 0) -> dict[str, Any]:
    """The plugins' Triton kernels against numpy (as :func:`check_library`)."""
    import torch

    rng = np.random.default_rng(seed)
    report: dict[str, Any] = {"triton": __import__("triton").__version__}
    rows, depth, columns = 64, 500, 10
    weights = rng.normal(0, 0.05, (columns, depth)).astype(np.float32)
    bias = rng.normal(0, 0.1, columns).astype(np.float32)
    x = _inputs(rng, (rows, depth))
    values = _inputs(rng, (10_000,))
    values[::97] = np.nan
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        cast = np.float16 if dtype == torch.float16 else np.float32
        xd, wd, bd = (torch.from_numpy(a).to("cuda", dtype) for a in (x, weights, bias))
        yd = torch.empty((rows, columns), dtype=dtype, device="cuda")
        triton_kernels.fully_connected(xd, wd, bd, yd)
        want = x.astype(cast).astype(np.float64) @ weights.astype(cast).astype(
            np.float64
        ).T + bias.astype(cast).astype(np.float64)
        torch.cuda.synchronize()
        report[f"fc_{name}"] = {"max_abs_error": _error(yd.float().cpu().numpy(), want)}
        vd = torch.from_numpy(values).to("cuda", dtype)
        out = torch.empty_like(vd)
        triton_kernels.clip(vd, out, 0.0, 6.0)
        torch.cuda.synchronize()
        source = vd.float().cpu().numpy()
        report[f"clip_{name}"] = {
            "max_abs_error": _error(out.float().cpu().numpy(), _clip_reference(source, 0.0, 6.0))
        }
    return report
