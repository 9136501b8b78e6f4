// ClipPlugin: y = min(max(x, clipMin), clipMax) elementwise (the uff_custom_plugin sample's
// clip layer, a ReLU6 when the bounds are 0 and 6), FP32 or FP16, any shape; NaN stays NaN.
#pragma once

#include "pluginBase.h"

namespace trt_samples
{
class ClipPlugin : public SamplePlugin<ClipPlugin>
{
public:
    static constexpr char const* kName = "ClipPlugin";

    ClipPlugin(float clipMin, float clipMax);

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

    float clipMin() const
    {
        return mClipMin;
    }
    float clipMax() const
    {
        return mClipMax;
    }

private:
    float mClipMin;
    float mClipMax;
};

class ClipPluginCreator : public SampleCreator<ClipPlugin>
{
public:
    ClipPluginCreator();
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;
};
} // namespace trt_samples
