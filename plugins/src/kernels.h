// CUDA kernels of the sample plugins: the clip of ClipPlugin and the bias add of FCPlugin,
// for FP32 and FP16 tensors.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <cstdint>

namespace trt_samples
{
// out[i] = min(max(in[i], lo), hi); NaN stays NaN (as numpy.clip). FP16 is clipped in FP32.
cudaError_t launchClip(float const* in, float* out, int64_t count, float lo, float hi, cudaStream_t stream);
cudaError_t launchClip(__half const* in, __half* out, int64_t count, float lo, float hi, cudaStream_t stream);

// out[r * columns + c] += bias[c] for every row r (FP16 added in FP32, rounded once).
cudaError_t launchBiasAdd(float* out, float const* bias, int64_t rows, int32_t columns, cudaStream_t stream);
cudaError_t launchBiasAdd(__half* out, __half const* bias, int64_t rows, int32_t columns, cudaStream_t stream);
} // namespace trt_samples
