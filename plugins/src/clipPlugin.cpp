#include "clipPlugin.h"

#include "fields.h"
#include "kernels.h"

#include <cmath>

using namespace nvinfer1;

namespace trt_samples
{
namespace
{
int64_t volume(Dims const& dims)
{
    int64_t count = 1;
    for (int32_t i = 0; i < dims.nbDims; ++i)
    {
        count *= dims.d[i];
    }
    return count;
}
} // namespace

ClipPlugin::ClipPlugin(float clipMin, float clipMax)
    : mClipMin(clipMin)
    , mClipMax(clipMax)
{
    setFields({PluginField("clipMin", &mClipMin, PluginFieldType::kFLOAT32, 1),
        PluginField("clipMax", &mClipMax, PluginFieldType::kFLOAT32, 1)});
}

IPluginV3* ClipPlugin::clone() noexcept
{
    return new (std::nothrow) ClipPlugin(mClipMin, mClipMax);
}

int32_t ClipPlugin::configurePlugin(
    DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    return (nbInputs == 1 && nbOutputs == 1 && in[0].desc.type == out[0].desc.type) ? 0 : -1;
}

int32_t ClipPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs, DimsExprs const* /*shapeInputs*/,
    int32_t /*nbShapeInputs*/, DimsExprs* outputs, int32_t nbOutputs, IExprBuilder& /*exprBuilder*/) noexcept
{
    if (nbInputs != 1 || nbOutputs != 1)
    {
        return -1;
    }
    outputs[0] = inputs[0];
    return 0;
}

int32_t ClipPlugin::onShapeChange(
    PluginTensorDesc const* /*in*/, int32_t nbInputs, PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    return (nbInputs == 1 && nbOutputs == 1) ? 0 : -1;
}

int32_t ClipPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* /*outputDesc*/,
    void const* const* inputs, void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept
{
    int64_t const count = volume(inputDesc[0].dims);
    cudaError_t status = cudaErrorInvalidValue;
    if (inputDesc[0].type == DataType::kFLOAT)
    {
        status = launchClip(static_cast<float const*>(inputs[0]), static_cast<float*>(outputs[0]), count, mClipMin,
            mClipMax, stream);
    }
    else if (inputDesc[0].type == DataType::kHALF)
    {
        status = launchClip(static_cast<__half const*>(inputs[0]), static_cast<__half*>(outputs[0]), count, mClipMin,
            mClipMax, stream);
    }
    return status == cudaSuccess ? 0 : -1;
}

ClipPluginCreator::ClipPluginCreator()
{
    setFields({PluginField("clipMin", nullptr, PluginFieldType::kFLOAT32, 1),
        PluginField("clipMax", nullptr, PluginFieldType::kFLOAT32, 1)});
}

IPluginV3* ClipPluginCreator::createPlugin(
    char const* /*name*/, PluginFieldCollection const* fc, TensorRTPhase /*phase*/) noexcept
{
    auto const lo = readFloats(fc, "clipMin");
    auto const hi = readFloats(fc, "clipMax");
    if (!lo || !hi || lo->size() != 1 || hi->size() != 1)
    {
        lastError() = "ClipPlugin: needs float fields clipMin and clipMax of one value each";
        return nullptr;
    }
    if (std::isnan((*lo)[0]) || std::isnan((*hi)[0]) || (*lo)[0] > (*hi)[0])
    {
        lastError() = "ClipPlugin: needs clipMin <= clipMax";
        return nullptr;
    }
    return new (std::nothrow) ClipPlugin((*lo)[0], (*hi)[0]);
}

} // namespace trt_samples
