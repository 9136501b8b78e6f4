"""Reproducible floats across machines: the instruction set and threads every numeric library
may use, pinned to a baseline all x86-64 machines of the last decade have (AVX2).

The libraries pick their kernels by the CPU they run on, and float sums come out in another
order with another kernel: the same seed trains other weights on an AVX-512 server than on an
AVX2 laptop, and an Intel CPU other weights than an AMD one. In ``strict`` mode every job runs
with the settings below, set in the job's environment before any of the libraries loads
(and over whatever the user's environment says); ``native`` leaves the environment as it is.

Measured on this project's machine (AMD EPYC, AVX-512) against QEMU's Intel ``Haswell`` (AVX2)
and ``Skylake-Server`` (AVX-512) CPU models, one epoch of LeNet, same seed: native gives three
different weight files; strict gives one. What each setting pins:

- PyTorch's own kernels: ``ATEN_CPU_CAPABILITY=avx2``.
- oneDNN (PyTorch's convolutions, TensorFlow): ``DNNL_MAX_CPU_ISA`` / ``ONEDNN_MAX_CPU_ISA``;
  TensorFlow's oneDNN operations are switched off (``TF_ENABLE_ONEDNN_OPTS=0``, Eigen kernels).
- TensorFlow's matrix products and convolutions: Eigen hands each block of a contraction to
  oneDNN's sgemm unless ``TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL=0``, and sizes those blocks
  from the cache sizes CPUID reports: the same AVX2 code can sum in another order elsewhere.
  Measured: two steps of the Keras LeNet (seeded, op determinism on, two threads) give other
  weights on this AMD EPYC (AVX2) than on QEMU's Intel ``Haswell`` with the oneDNN kernel, the
  same weights with Eigen's own. The same training still changes when oneDNN's instruction-set
  cap changes (one oneDNN sgemm call remains), which the AVX2 cap above pins.
- MKL (PyTorch's GEMMs): ``MKL_CBWR=COMPATIBLE``. ``AVX2,STRICT`` is not enough: measured, a
  (64 x 500) x (500 x 10) product differs between the AMD host and an Intel AVX2 CPU with it.
- numpy: its OpenBLAS kernels (``OPENBLAS_CORETYPE=Haswell``, one thread) and its own SIMD
  loops (``NPY_DISABLE_CPU_FEATURES``: no AVX-512 dispatch).
- ONNX Runtime: its MLAS kernels choose the instruction set from CPUID and no setting pins
  them. Its float convolutions differ only through the NCHWc layout, whose blocking follows the
  vector width, so strict sessions stop at ``ORT_ENABLE_EXTENDED`` (no layout transform).
  Measured: calibration tables of the MNIST and SSD graphs identical between the AVX-512 host
  and the emulated AVX2 CPU with it, different without it. Its integer kernels differ by
  themselves: a Q/DQ graph is otherwise fused into QLinearConv, QLinearMatMul or MatMulInteger,
  whose AVX2 u8s8 kernels add pairs of int8 products in 16 bits and saturate, where AVX-512 VNNI
  kernels do not. Strict sessions set ``session.disable_quant_qdq``: QuantizeLinear and
  DequantizeLinear run as float operators (fake quantization, the arithmetic the Q/DQ graph
  describes for TensorRT). Measured with ONNX Runtime 1.32.0 on the default run's MNIST INT8
  graphs: byte-identical probabilities on an AMD EPYC without AVX-512 and an Intel Xeon with
  AVX-512 VNNI (98.61% top-1 on both); fused, 98.33% and 98.61%. A Q/DQ MatMul whose int8 pairs
  overflow 16 bits: exact in strict mode on both, off by up to 47104 fused on the AVX2 CPU.
"""

import os
import platform
from typing import Any

MODES = ("strict", "native")
#: The instruction-set baseline of strict mode.
BASELINE = "avx2"
#: The job environment of strict mode (see the module docstring).
STRICT_ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "TRT_SAMPLES_REPRODUCIBLE": "strict",
}
#: ONNX Runtime's graph optimization level by mode.
ORT_OPTIMIZATION = {"strict": "ORT_ENABLE_EXTENDED", "native": "ORT_ENABLE_ALL"}
#: ONNX Runtime's session configuration entries by mode: strict sessions run a Q/DQ graph's
#: QuantizeLinear/DequantizeLinear as float operators instead of fusing them into integer kernels.
ORT_SESSION_CONFIG: dict[str, dict[str, str]] = {
    "strict": {"session.disable_quant_qdq": "1"},
    "native": {},
}


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is ``strict`` or ``native``.

    Raises:
        ValueError: another value (the config schema allows only these two).
    """
    if mode not in MODES:
        raise ValueError(f"reproducible: {mode!r}, expected one of {MODES}")
    return mode


def job_environment(mode: str) -> dict[str, str]:
    """The variables a job's environment gets in ``mode`` (none in native mode)."""
    return dict(STRICT_ENVIRONMENT) if check_mode(mode) == "strict" else {}


def current_mode() -> str:
    """The mode this process runs in, from its environment (``native`` when not set)."""
    return os.environ.get("TRT_SAMPLES_REPRODUCIBLE", "native")


def ort_optimization_level() -> str:
    """ONNX Runtime's ``GraphOptimizationLevel`` member name for this process's mode."""
    return ORT_OPTIMIZATION.get(current_mode(), ORT_OPTIMIZATION["native"])


def ort_session_config() -> dict[str, str]:
    """ONNX Runtime's session configuration entries for this process's mode."""
    return dict(ORT_SESSION_CONFIG.get(current_mode(), ORT_SESSION_CONFIG["native"]))


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_isa() -> str:
    """The widest x86 vector instruction set this CPU has: avx512, avx2, avx or sse."""
    flags = _cpu_flags()
    for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx")):
        if flag in flags:
            return name
    return "sse" if platform.machine() in ("x86_64", "AMD64") else platform.machine()


def settings(*, threads: int | None) -> dict[str, Any]:
    """What an artifact records of how its floats were computed.

    Args:
        threads: the thread count of the step that made it (``None`` where a library chooses,
            as TensorRT's builder does).

    Returns:
        ``{"mode", "isa", "threads", "onnxruntime_optimization", "onnxruntime_config",
        "environment"}``. In strict mode ``isa`` is the pinned baseline and the record is the
        same on every machine; in native mode it is this CPU's widest instruction set.
    """
    mode = current_mode()
    return {
        "mode": mode,
        "isa": BASELINE if mode == "strict" else native_isa(),
        "threads": threads,
        "onnxruntime_optimization": ort_optimization_level(),
        "onnxruntime_config": ort_session_config(),
        "environment": {key: os.environ.get(key) for key in sorted(STRICT_ENVIRONMENT)},
    }
