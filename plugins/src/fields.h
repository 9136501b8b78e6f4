// Reading and writing plugin fields: what a creator receives from the ONNX parser (one field per
// node attribute) or from a serialized engine (the fields getFieldsToSerialize returned).
#pragma once

#include "NvInferRuntime.h"

#include <cuda_fp16.h>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace trt_samples
{
//! The namespace and version of the sample plugins (ONNX nodes: plugin_namespace, plugin_version).
constexpr char const* kNamespace = "trt_samples";
constexpr char const* kVersion = "1";

inline nvinfer1::PluginField const* findField(nvinfer1::PluginFieldCollection const* fc, char const* name)
{
    for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i)
    {
        if (fc->fields[i].name != nullptr && std::strcmp(fc->fields[i].name, name) == 0)
        {
            return &fc->fields[i];
        }
    }
    return nullptr;
}

//! Float values of a field of FP32, FP16 or FP64 values (the parser passes ONNX float
//! attributes and float tensors as such); empty optional when absent or of another type.
inline std::optional<std::vector<float>> readFloats(nvinfer1::PluginFieldCollection const* fc, char const* name)
{
    using nvinfer1::PluginFieldType;
    auto const* field = findField(fc, name);
    if (field == nullptr || field->data == nullptr || field->length < 0)
    {
        return std::nullopt;
    }
    std::vector<float> values(static_cast<size_t>(field->length));
    for (int32_t i = 0; i < field->length; ++i)
    {
        switch (field->type)
        {
        case PluginFieldType::kFLOAT32: values[i] = static_cast<float const*>(field->data)[i]; break;
        case PluginFieldType::kFLOAT64: values[i] = static_cast<float>(static_cast<double const*>(field->data)[i]); break;
        case PluginFieldType::kFLOAT16: values[i] = __half2float(static_cast<__half const*>(field->data)[i]); break;
        default: return std::nullopt;
        }
    }
    return values;
}

//! One integer of an INT32 or INT64 field (the parser passes ONNX int attributes as INT32).
inline std::optional<int64_t> readInt(nvinfer1::PluginFieldCollection const* fc, char const* name)
{
    using nvinfer1::PluginFieldType;
    auto const* field = findField(fc, name);
    if (field == nullptr || field->data == nullptr || field->length != 1)
    {
        return std::nullopt;
    }
    if (field->type == PluginFieldType::kINT32)
    {
        return static_cast<int32_t const*>(field->data)[0];
    }
    if (field->type == PluginFieldType::kINT64)
    {
        return static_cast<int64_t const*>(field->data)[0];
    }
    return std::nullopt;
}

//! Why a creator refused its fields, kept for the caller (createPlugin returns nullptr).
inline std::string& lastError()
{
    static thread_local std::string message;
    return message;
}
} // namespace trt_samples
