// FCPlugin: a fully connected layer, y = x W^T + b (samplePlugin's FCPlugin, used in place of
// MNIST's ip2): the input (N, K) or (N, K, 1, ...) flattened to (N, K), the output (N, outFeatures);
// cuBLAS GEMM plus a bias kernel, FP32 or FP16 (FP16 with FP32 accumulation). The weights and bias
// are plugin fields, serialized into the engine and recreated from it.
#pragma once

#include "pluginBase.h"

#include <cublas_v2.h>
#include <cstdint>
#include <vector>

namespace trt_samples
{
class FCPlugin : public SamplePlugin<FCPlugin>
{
public:
    static constexpr char const* kName = "FCPlugin";

    FCPlugin(std::vector<float> weights, std::vector<float> bias, int32_t outFeatures);
    ~FCPlugin() override;

    nvinfer1::IPluginV3* clone() noexcept override;
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;

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
};

class FCPluginCreator : public SampleCreator<FCPlugin>
{
public:
    FCPluginCreator();
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;
};
} // namespace trt_samples
