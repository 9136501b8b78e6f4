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
constexpr char const* kFCName = "FCPlugin";

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
    mFields = {PluginField("weights", mWeights.data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(mWeights.size())),
        PluginField("bias", mBias.data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(mBias.size())),
        PluginField("outFeatures", &mOutFeatures, PluginFieldType::kINT32, 1)};
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
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

IPluginCapability* FCPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    }
    return nullptr;
}

IPluginV3* FCPlugin::clone() noexcept
{
    return new (std::nothrow) FCPlugin(mWeights, mBias, mOutFeatures);
}

char const* FCPlugin::getPluginName() const noexcept
{
    return kFCName;
}
char const* FCPlugin::getPluginVersion() const noexcept
{
    return kVersion;
}
char const* FCPlugin::getPluginNamespace() const noexcept
{
    return kNamespace;
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

int32_t FCPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != 1 || nbOutputs != 1)
    {
        return -1;
    }
    outputTypes[0] = inputTypes[0];
    return 0;
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

bool FCPlugin::supportsFormatCombination(
    int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1)
    {
        return false;
    }
    auto const& desc = inOut[pos].desc;
    bool const typeOk = desc.type == DataType::kFLOAT || desc.type == DataType::kHALF;
    bool const sameAsInput = pos == 0 || desc.type == inOut[0].desc.type;
    return typeOk && sameAsInput && desc.format == TensorFormat::kLINEAR;
}

int32_t FCPlugin::getNbOutputs() const noexcept
{
    return 1;
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

IPluginV3* FCPlugin::attachToContext(IPluginResourceContext* /*context*/) noexcept
{
    return clone();
}

PluginFieldCollection const* FCPlugin::getFieldsToSerialize() noexcept
{
    return &mCollection;
}

FCPluginCreator::FCPluginCreator()
{
    mFields = {PluginField("weights", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("bias", nullptr, PluginFieldType::kFLOAT32, 0),
        PluginField("outFeatures", nullptr, PluginFieldType::kINT32, 1)};
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
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

PluginFieldCollection const* FCPluginCreator::getFieldNames() noexcept
{
    return &mCollection;
}
char const* FCPluginCreator::getPluginName() const noexcept
{
    return kFCName;
}
char const* FCPluginCreator::getPluginVersion() const noexcept
{
    return kVersion;
}
char const* FCPluginCreator::getPluginNamespace() const noexcept
{
    return kNamespace;
}
} // namespace trt_samples
