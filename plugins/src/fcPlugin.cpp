#include "fcPlugin.h"

#include "fields.h"
#include "kernels.h"

#include <cuda_fp16.h>
#include <utility>

using namespace nvinfer1;

namespace trt_samples
{
namespace
{
//! K of an input (N, K, 1, ...): the product of its dimensions after the first.
int64_t featuresOf(Dims const& dims)
{
    int64_t count = 1;
    for (int32_t i = 1; i < dims.nbDims; ++i)
    {
        count *= dims.d[i];
    }
    return count;
}
} // namespace

FCPlugin::FCPlugin(std::vector<float> weights, std::vector<float> bias, int32_t outFeatures)
    : mWeights(std::move(weights))
    , mBias(std::move(bias))
    , mOutFeatures(outFeatures)
{
    setFields({PluginField("weights", mWeights.data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(mWeights.size())),
        PluginField("bias", mBias.data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(mBias.size())),
        PluginField("outFeatures", &mOutFeatures, PluginFieldType::kINT32, 1)});
}

FCPlugin::~FCPlugin()
{
    if (mCublas != nullptr)
    {
        cublasDestroy(mCublas);
    }
    cudaFree(mDeviceWeights);
    cudaFree(mDeviceBias);
}

IPluginV3* FCPlugin::clone() noexcept
{
    return new (std::nothrow) FCPlugin(mWeights, mBias, mOutFeatures);
}

int32_t FCPlugin::configurePlugin(
    DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != 1 || in[0].desc.type != out[0].desc.type)
    {
        return -1;
    }
    // the input's features must match the weights (the batch may be dynamic)
    return featuresOf(in[0].desc.dims) == inFeatures() ? 0 : -1;
}

int32_t FCPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs, DimsExprs const* /*shapeInputs*/,
    int32_t /*nbShapeInputs*/, DimsExprs* outputs, int32_t nbOutputs, IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != 1 || nbOutputs != 1 || inputs[0].nbDims < 2)
    {
        return -1;
    }
    outputs[0].nbDims = 2;
    outputs[0].d[0] = inputs[0].d[0];
    outputs[0].d[1] = exprBuilder.constant(mOutFeatures);
    return 0;
}

int32_t FCPlugin::onShapeChange(
    PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != 1 || featuresOf(in[0].dims) != inFeatures())
    {
        return -1;
    }
    return ensureDevice(in[0].type == DataType::kHALF);
}

int32_t FCPlugin::ensureDevice(bool half) noexcept
{
    if (mCublas == nullptr && cublasCreate(&mCublas) != CUBLAS_STATUS_SUCCESS)
    {
        mCublas = nullptr;
        return -1;
    }
    if (mDeviceWeights != nullptr && mDeviceHalf == half)
    {
        return 0;
    }
    cudaFree(mDeviceWeights);
    cudaFree(mDeviceBias);
    mDeviceWeights = mDeviceBias = nullptr;
    size_t const element = half ? sizeof(__half) : sizeof(float);
    if (cudaMalloc(&mDeviceWeights, mWeights.size() * element) != cudaSuccess
        || cudaMalloc(&mDeviceBias, mBias.size() * element) != cudaSuccess)
    {
        return -1;
    }
    cudaError_t status = cudaSuccess;
    if (half)
    {
        std::vector<__half> weights(mWeights.size());
        std::vector<__half> bias(mBias.size());
        for (size_t i = 0; i < weights.size(); ++i)
        {
            weights[i] = __float2half_rn(mWeights[i]);
        }
        for (size_t i = 0; i < bias.size(); ++i)
        {
            bias[i] = __float2half_rn(mBias[i]);
        }
        status = cudaMemcpy(mDeviceWeights, weights.data(), weights.size() * element, cudaMemcpyHostToDevice);
        if (status == cudaSuccess)
        {
            status = cudaMemcpy(mDeviceBias, bias.data(), bias.size() * element, cudaMemcpyHostToDevice);
        }
    }
    else
    {
        status = cudaMemcpy(mDeviceWeights, mWeights.data(), mWeights.size() * element, cudaMemcpyHostToDevice);
        if (status == cudaSuccess)
        {
            status = cudaMemcpy(mDeviceBias, mBias.data(), mBias.size() * element, cudaMemcpyHostToDevice);
        }
    }
    mDeviceHalf = half;
    return status == cudaSuccess ? 0 : -1;
}

int32_t FCPlugin::forward(void const* x, void* y, int64_t rows, bool half, cudaStream_t stream) noexcept
{
    if (ensureDevice(half) != 0 || cublasSetStream(mCublas, stream) != CUBLAS_STATUS_SUCCESS)
    {
        return -1;
    }
    // row-major y (rows, out) = x (rows, K) W^T is column-major y^T (out, rows) = W (out, K) x^T
    float const alpha = 1.0F;
    float const beta = 0.0F;
    cudaDataType_t const type = half ? CUDA_R_16F : CUDA_R_32F;
    int32_t const k = inFeatures();
    cublasStatus_t const status = cublasGemmEx(mCublas, CUBLAS_OP_T, CUBLAS_OP_N, mOutFeatures,
        static_cast<int32_t>(rows), k, &alpha, mDeviceWeights, type, k, x, type, k, &beta, y, type, mOutFeatures,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (status != CUBLAS_STATUS_SUCCESS)
    {
        return -1;
    }
    cudaError_t const added = half
        ? launchBiasAdd(static_cast<__half*>(y), static_cast<__half const*>(mDeviceBias), rows, mOutFeatures, stream)
        : launchBiasAdd(static_cast<float*>(y), static_cast<float const*>(mDeviceBias), rows, mOutFeatures, stream);
    return added == cudaSuccess ? 0 : -1;
}

int32_t FCPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/,
    void const* const* inputs, void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept
{
    return forward(inputs[0], outputs[0], inputDesc[0].dims.d[0], inputDesc[0].type == DataType::kHALF, stream);
}

FCPluginCreator::FCPluginCreator()
{
    setFields({PluginField("weights", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("bias", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("outFeatures", nullptr, PluginFieldType::kINT32, 1)});
}

IPluginV3* FCPluginCreator::createPlugin(
    char const* /*name*/, PluginFieldCollection const* fc, TensorRTPhase /*phase*/) noexcept
{
    auto weights = readFloats(fc, "weights");
    auto bias = readFloats(fc, "bias");
    auto const outFeatures = readInt(fc, "outFeatures");
    if (!weights || !bias || !outFeatures)
    {
        lastError() = "FCPlugin: needs float fields weights and bias and an int field outFeatures";
        return nullptr;
    }
    auto const out = *outFeatures;
    if (out < 1 || static_cast<int64_t>(bias->size()) != out || weights->empty()
        || weights->size() % static_cast<size_t>(out) != 0)
    {
        lastError() = "FCPlugin: needs outFeatures >= 1 bias values and a multiple of it in weights";
        return nullptr;
    }
    return new (std::nothrow) FCPlugin(std::move(*weights), std::move(*bias), static_cast<int32_t>(out));
}

} // namespace trt_samples
