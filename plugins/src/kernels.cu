// CUDA kernels of the sample plugins (see kernels.h).
#include "kernels.h"

namespace trt_samples
{
namespace
{
constexpr int kBlock = 256;

__device__ __forceinline__ float toFloat(float v)
{
    return v;
}
__device__ __forceinline__ float toFloat(__half v)
{
    return __half2float(v);
}
template <typename T>
__device__ __forceinline__ T fromFloat(float v);
template <>
__device__ __forceinline__ float fromFloat<float>(float v)
{
    return v;
}
template <>
__device__ __forceinline__ __half fromFloat<__half>(float v)
{
    return __float2half_rn(v);
}

template <typename T>
__global__ void clipKernel(T const* in, T* out, int64_t count, float lo, float hi)
{
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        float const v = toFloat(in[i]);
        out[i] = fromFloat<T>(v != v ? v : fminf(fmaxf(v, lo), hi));
    }
}

template <typename T>
__global__ void biasAddKernel(T* out, T const* bias, int64_t rows, int32_t columns)
{
    int64_t const count = rows * columns;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        out[i] = fromFloat<T>(toFloat(out[i]) + toFloat(bias[i % columns]));
    }
}

int blocksFor(int64_t count)
{
    int64_t const blocks = (count + kBlock - 1) / kBlock;
    return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

template <typename T>
cudaError_t clip(T const* in, T* out, int64_t count, float lo, float hi, cudaStream_t stream)
{
    if (count > 0)
    {
        clipKernel<T><<<blocksFor(count), kBlock, 0, stream>>>(in, out, count, lo, hi);
    }
    return cudaGetLastError();
}

template <typename T>
cudaError_t biasAdd(T* out, T const* bias, int64_t rows, int32_t columns, cudaStream_t stream)
{
    if (rows > 0 && columns > 0)
    {
        biasAddKernel<T><<<blocksFor(rows * columns), kBlock, 0, stream>>>(out, bias, rows, columns);
    }
    return cudaGetLastError();
}
} // namespace

cudaError_t launchClip(float const* in, float* out, int64_t count, float lo, float hi, cudaStream_t stream)
{
    return clip(in, out, count, lo, hi, stream);
}
cudaError_t launchClip(__half const* in, __half* out, int64_t count, float lo, float hi, cudaStream_t stream)
{
    return clip(in, out, count, lo, hi, stream);
}
cudaError_t launchBiasAdd(float* out, float const* bias, int64_t rows, int32_t columns, cudaStream_t stream)
{
    return biasAdd(out, bias, rows, columns, stream);
}
cudaError_t launchBiasAdd(__half* out, __half const* bias, int64_t rows, int32_t columns, cudaStream_t stream)
{
    return biasAdd(out, bias, rows, columns, stream);
}
} // namespace trt_samples
