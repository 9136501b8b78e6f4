// FCPlugin: a fully connected layer, y = x W^T + b (samplePlugin's FCPlugin, used in place of
// MNIST's ip2): the input (N, K) or (N, K, 1, ...) flattened to (N, K), the output (N, outFeatures);
// cuBLAS GEMM plus a bias kernel, FP32 or FP16 (FP16 with FP32 accumulation). The weights and bias
// are plugin fields, serialized into the engine and recreated from it.
#pragma once

#include "NvInferRuntime.h"

#include <cublas_v2.h>
#include <cstdint>
#include <vector>

namespace trt_samples
{
class FCPlugin : public nvinfer1::IPluginV3,
                 public nvinfer1::IPluginV3OneCore,
                 public nvinfer1::IPluginV3OneBuild,
                 public nvinfer1::IPluginV3OneRuntime
{
public:
    FCPlugin(std::vector<float> weights, std::vector<float> bias, int32_t outFeatures);
    ~FCPlugin() override;
    FCPlugin(FCPlugin const&) = delete;
    FCPlugin& operator=(FCPlugin const&) = delete;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;
    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;
    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;
    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

    int32_t inFeatures() const
    {
        return static_cast<int32_t>(mWeights.size() / mOutFeatures);
    }
    int32_t outFeatures() const
    {
        return mOutFeatures;
    }
    std::vector<float> const& weights() const
    {
        return mWeights;
    }
    std::vector<float> const& bias() const
    {
        return mBias;
    }

    //! y (rows, outFeatures) = x (rows, K) W^T + b on the stream, FP32 or FP16 (also the GPU check's
    //! entry point). Device copies of the weights in that type are made on first use.
    int32_t forward(void const* x, void* y, int64_t rows, bool half, cudaStream_t stream) noexcept;

private:
    int32_t ensureDevice(bool half) noexcept;

    std::vector<float> mWeights;
    std::vector<float> mBias;
    int32_t mOutFeatures;
    cublasHandle_t mCublas{nullptr};
    void* mDeviceWeights{nullptr};
    void* mDeviceBias{nullptr};
    bool mDeviceHalf{false};
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mCollection{};
};

class FCPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    FCPluginCreator();
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mCollection{};
};
} // namespace trt_samples
