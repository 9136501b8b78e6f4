// What the sample plugins share: one input and one output of the input's type (FP32 or FP16,
// linear), the IPluginV3 capability plumbing, name, version and namespace, and the fields they
// serialize (the same fields their creators read). CRTP: Derived gives kName.
#pragma once

#include "NvInferRuntime.h"
#include "fields.h"

#include <utility>
#include <vector>

namespace trt_samples
{
//! Fields and the collection TensorRT reads them through (pointing into the vector).
struct FieldList
{
    std::vector<nvinfer1::PluginField> fields;
    nvinfer1::PluginFieldCollection collection{};

    void set(std::vector<nvinfer1::PluginField> values)
    {
        fields = std::move(values);
        collection.nbFields = static_cast<int32_t>(fields.size());
        collection.fields = fields.data();
    }
};

template <typename Derived>
class SamplePlugin : public nvinfer1::IPluginV3,
                     public nvinfer1::IPluginV3OneCore,
                     public nvinfer1::IPluginV3OneBuild,
                     public nvinfer1::IPluginV3OneRuntime
{
public:
    SamplePlugin() = default;
    SamplePlugin(SamplePlugin const&) = delete;  // the fields point into the plugin itself
    SamplePlugin& operator=(SamplePlugin const&) = delete;
    ~SamplePlugin() override = default;

    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override
    {
        switch (type)
        {
        case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
        case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
        case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
        }
        return nullptr;
    }
    char const* getPluginName() const noexcept override
    {
        return Derived::kName;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kVersion;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kNamespace;
    }
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override
    {
        if (nbInputs != 1 || nbOutputs != 1)
        {
            return -1;
        }
        outputTypes[0] = inputTypes[0];
        return 0;
    }
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override
    {
        if (nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1)
        {
            return false;
        }
        auto const& desc = inOut[pos].desc;
        bool const typeOk = desc.type == nvinfer1::DataType::kFLOAT || desc.type == nvinfer1::DataType::kHALF;
        bool const sameAsInput = pos == 0 || desc.type == inOut[0].desc.type;
        return typeOk && sameAsInput && desc.format == nvinfer1::TensorFormat::kLINEAR;
    }
    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept override
    {
        return clone();
    }
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override
    {
        return &mFields.collection;
    }

protected:
    //! The fields to serialize; their data must live as long as the plugin (members of it).
    void setFields(std::vector<nvinfer1::PluginField> fields)
    {
        mFields.set(std::move(fields));
    }

private:
    FieldList mFields;
};

//! A creator's fixed parts: the plugin's name, version and namespace and its field names.
template <typename Plugin>
class SampleCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return &mFields.collection;
    }
    char const* getPluginName() const noexcept override
    {
        return Plugin::kName;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kVersion;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kNamespace;
    }

protected:
    void setFields(std::vector<nvinfer1::PluginField> fields)
    {
        mFields.set(std::move(fields));
    }

private:
    FieldList mFields;
};
} // namespace trt_samples
