// The library's entry points: getCreators, which TensorRT's plugin registry calls when it loads
// the library (IPluginRegistry::loadLibrary, trtexec --dynamicPlugins, the ONNX parser's
// fallback to plugins), and C functions that the GPU check (scripts/cli/verify_plugins.py) calls
// through ctypes to run the creators, the serialization round trip and the kernels without a
// TensorRT installation.
#include "clipPlugin.h"
#include "fcPlugin.h"
#include "fields.h"
#include "kernels.h"

#include <cstring>
#include <memory>
#include <vector>

using namespace nvinfer1;
using trt_samples::ClipPlugin;
using trt_samples::FCPlugin;

#define TRT_SAMPLES_EXPORT extern "C" __attribute__((visibility("default")))

TRT_SAMPLES_EXPORT IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static trt_samples::FCPluginCreator fcCreator;
    static trt_samples::ClipPluginCreator clipCreator;
    static IPluginCreatorInterface* const creators[] = {&fcCreator, &clipCreator};
    nbCreators = 2;
    return creators;
}

TRT_SAMPLES_EXPORT char const* trt_samples_last_error()
{
    return trt_samples::lastError().c_str();
}

namespace
{
template <typename Plugin>
std::unique_ptr<Plugin> create(IPluginCreatorV3One& creator, PluginFieldCollection const& fc, TensorRTPhase phase)
{
    return std::unique_ptr<Plugin>(static_cast<Plugin*>(creator.createPlugin("check", &fc, phase)));
}

//! Fields of an FC plugin as the ONNX parser hands them (weights, bias, outFeatures).
PluginFieldCollection fcFields(std::vector<PluginField>& fields, float const* weights, float const* bias,
    int32_t const& out, int32_t in)
{
    fields = {PluginField("weights", weights, PluginFieldType::kFLOAT32, out * in),
        PluginField("bias", bias, PluginFieldType::kFLOAT32, out),
        PluginField("outFeatures", &out, PluginFieldType::kINT32, 1)};
    return PluginFieldCollection{static_cast<int32_t>(fields.size()), fields.data()};
}
} // namespace

//! Build an FC plugin from parser-style fields, serialize it (getFieldsToSerialize), recreate it
//! in the runtime phase from those fields, and compare: 0 when identical, 1 when not, -1 when a
//! creator refused (trt_samples_last_error says why).
TRT_SAMPLES_EXPORT int trt_samples_fc_roundtrip(float const* weights, float const* bias, int32_t out, int32_t in)
{
    trt_samples::FCPluginCreator creator;
    std::vector<PluginField> fields;
    auto const fc = fcFields(fields, weights, bias, out, in);
    auto built = create<FCPlugin>(creator, fc, TensorRTPhase::kBUILD);
    if (!built)
    {
        return -1;
    }
    auto again = create<FCPlugin>(creator, *built->getFieldsToSerialize(), TensorRTPhase::kRUNTIME);
    if (!again)
    {
        return -1;
    }
    bool const same = again->weights() == built->weights() && again->bias() == built->bias()
        && again->outFeatures() == out && again->inFeatures() == in
        && std::memcmp(again->weights().data(), weights, sizeof(float) * out * in) == 0;
    return same ? 0 : 1;
}

//! The same for a clip plugin.
TRT_SAMPLES_EXPORT int trt_samples_clip_roundtrip(float lo, float hi)
{
    trt_samples::ClipPluginCreator creator;
    std::vector<PluginField> fields = {PluginField("clipMin", &lo, PluginFieldType::kFLOAT32, 1),
        PluginField("clipMax", &hi, PluginFieldType::kFLOAT32, 1)};
    PluginFieldCollection const fc{2, fields.data()};
    auto built = create<ClipPlugin>(creator, fc, TensorRTPhase::kBUILD);
    if (!built)
    {
        return -1;
    }
    auto again = create<ClipPlugin>(creator, *built->getFieldsToSerialize(), TensorRTPhase::kRUNTIME);
    if (!again)
    {
        return -1;
    }
    return (again->clipMin() == lo && again->clipMax() == hi) ? 0 : 1;
}

//! y = x W^T + b through an FC plugin made by its creator; x and y are device pointers of FP32
//! (half = 0) or FP16 values. Synchronous; 0 on success.
TRT_SAMPLES_EXPORT int trt_samples_fc_forward(float const* weights, float const* bias, int32_t out, int32_t in,
    void const* x, void* y, int64_t rows, int32_t half)
{
    trt_samples::FCPluginCreator creator;
    std::vector<PluginField> fields;
    auto const fc = fcFields(fields, weights, bias, out, in);
    auto plugin = create<FCPlugin>(creator, fc, TensorRTPhase::kRUNTIME);
    if (!plugin || plugin->forward(x, y, rows, half != 0, nullptr) != 0)
    {
        return -1;
    }
    return cudaDeviceSynchronize() == cudaSuccess ? 0 : -1;
}

//! The clip kernel on device pointers of FP32 (half = 0) or FP16 values. Synchronous.
TRT_SAMPLES_EXPORT int trt_samples_clip(void const* x, void* y, int64_t count, float lo, float hi, int32_t half)
{
    cudaError_t const status = half != 0
        ? trt_samples::launchClip(static_cast<__half const*>(x), static_cast<__half*>(y), count, lo, hi, nullptr)
        : trt_samples::launchClip(static_cast<float const*>(x), static_cast<float*>(y), count, lo, hi, nullptr);
    return (status == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess) ? 0 : -1;
}
