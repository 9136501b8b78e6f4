"""Triton versions of the plugins' kernels: the clip and the fully connected layer (GEMM with
FP32 accumulation, then the bias), FP32 or FP16, on torch CUDA tensors. Triton and torch are
imported when a kernel runs (they need a CUDA GPU)."""

from typing import Any

#: Launch blocks: elements per clip program; (rows, columns, depth) per FC program.
CLIP_BLOCK = 1024
FC_BLOCKS = (32, 32, 32)

_KERNELS: dict[str, Any] = {}


def _kernels() -> dict[str, Any]:
    """Compile-once definitions of the kernels (triton.jit needs triton at definition)."""
    if _KERNELS:
        return _KERNELS
    import triton
    import triton.language as tl

    @triton.jit
    def clip_kernel(x_ptr, y_ptr, count, lo, hi, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < count
        x = tl.load(x_ptr + offsets, mask=mask).to(tl.float32)
        y = tl.where(x != x, x, tl.minimum(tl.maximum(x, lo), hi))  # NaN stays NaN
        tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def fc_kernel(
        x_ptr,
        w_ptr,
        b_ptr,
        y_ptr,
        rows,
        columns,
        depth,
        BM: tl.constexpr,
        BN: tl.constexpr,
        BK: tl.constexpr,
    ):
        # y (rows, columns) = x (rows, depth) @ w (columns, depth)^T + b (columns)
        r = tl.program_id(0) * BM + tl.arange(0, BM)
        c = tl.program_id(1) * BN + tl.arange(0, BN)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for start in range(0, depth, BK):
            k = start + tl.arange(0, BK)
            x = tl.load(
                x_ptr + r[:, None] * depth + k[None, :],
                mask=(r[:, None] < rows) & (k[None, :] < depth),
                other=0.0,
            )
            w = tl.load(
                w_ptr + c[None, :] * depth + k[:, None],
                mask=(c[None, :] < columns) & (k[:, None] < depth),
                other=0.0,
            )
            acc += tl.dot(x, w, input_precision="ieee")
        bias = tl.load(b_ptr + c, mask=c < columns, other=0.0).to(tl.float32)
        y = acc + bias[None, :]
        tl.store(
            y_ptr + r[:, None] * columns + c[None, :],
            y.to(y_ptr.dtype.element_ty),
            mask=(r[:, None] < rows) & (c[None, :] < columns),
        )

    _KERNELS.update(clip=clip_kernel, fc=fc_kernel, triton=triton)
    return _KERNELS


def clip(x: Any, out: Any, lo: float, hi: float) -> None:
    """out = clip(x, lo, hi) for contiguous CUDA tensors of one dtype (float32 or float16), on
    the current torch stream."""
    kernels = _kernels()
    count = x.numel()
    grid = (kernels["triton"].cdiv(count, CLIP_BLOCK),)
    kernels["clip"][grid](x, out, count, float(lo), float(hi), BLOCK=CLIP_BLOCK)


def fully_connected(x: Any, weights: Any, bias: Any, out: Any) -> None:
    """out (rows, columns) = x (rows, depth) @ weights (columns, depth)^T + bias, contiguous CUDA
    tensors of one dtype, accumulated in FP32."""
    kernels = _kernels()
    rows, depth = x.shape
    columns = weights.shape[0]
    bm, bn, bk = FC_BLOCKS
    cdiv = kernels["triton"].cdiv
    grid = (cdiv(rows, bm), cdiv(columns, bn))
    kernels["fc"][grid](x, weights, bias, out, rows, columns, depth, BM=bm, BN=bn, BK=bk)
