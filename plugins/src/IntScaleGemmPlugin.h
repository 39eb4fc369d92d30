// The IntScaleGemm TensorRT plugin, version "1" (IPluginV3, OneCore/OneBuild/OneRuntime).
//
// ONNX node -> plugin. The TensorRT ONNX parser turns a node it does not know
// into a plugin looked up by op_type ("IntScaleGemm"), the node attribute
// plugin_version ("1") and plugin_namespace (""); it passes only attributes
// named by getFieldNames(): group_size, w_bits, a_bits (kINT32) and layout
// (kCHAR). The node's initializers Wq, S, C (and B) arrive as constant plugin
// inputs (INT32 constants pass the parser unchanged; DESIGN.md says why).
//
// Inputs: 0 X [..., K] float/half/bf16, 1 Wq int32 [N, K/8], 2 S int32 [N, G],
// 3 C float32 [N], 4 B [N] of X's type (optional). Output: Y [..., N] of X's type.
// Workspace: the INT8 activations, per-token scales and split-K sums
// (is_gemm_workspace_size of the largest M of the profile).
#pragma once

#include <NvInferRuntime.h>

#include <string>
#include <vector>

namespace is_export {

constexpr char const* kPluginName = "IntScaleGemm";
constexpr char const* kPluginVersion = "1";
constexpr char const* kLayoutNK_U4X8 = "nk_u4x8";

// The node attributes the plugin understands.
struct IntScaleGemmParams {
  int32_t group_size = 128;
  int32_t w_bits = 4;
  int32_t a_bits = 8;
  std::string layout = kLayoutNK_U4X8;

  // Empty when valid, else a one-line reason.
  std::string validate() const;
};

class IntScaleGemmPlugin : public nvinfer1::IPluginV3,
                           public nvinfer1::IPluginV3OneCore,
                           public nvinfer1::IPluginV3OneBuild,
                           public nvinfer1::IPluginV3OneRuntime {
 public:
  IntScaleGemmPlugin(std::string ns, IntScaleGemmParams params);
  ~IntScaleGemmPlugin() override = default;

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  char const* getPluginName() const noexcept override { return kPluginName; }
  char const* getPluginVersion() const noexcept override { return kPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return mNamespace.c_str(); }

  // IPluginV3OneBuild
  int32_t getNbOutputs() const noexcept override { return 1; }
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs, nvinfer1::DataType const* inputTypes,
                             int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                          nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
  size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
                          nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;

  // IPluginV3OneRuntime
  int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                  void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

  IntScaleGemmParams const& params() const { return mParams; }

 private:
  // Checks the shapes of X/Wq/S/C/B against each other and the group size.
  bool checkShapes(nvinfer1::Dims const* dims, int32_t nbInputs) const;

  std::string mNamespace;
  IntScaleGemmParams mParams;
  std::vector<nvinfer1::PluginField> mSerialFields;
  nvinfer1::PluginFieldCollection mSerialCollection{};
  // Whether the node has the optional bias input; enqueue() is not told the
  // input count, so configurePlugin/onShapeChange record it.
  bool mHasBias = false;
};

class IntScaleGemmCreator : public nvinfer1::IPluginCreatorV3One {
 public:
  IntScaleGemmCreator();
  nvinfer1::IPluginV3* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override { return &mFieldCollection; }
  char const* getPluginName() const noexcept override { return kPluginName; }
  char const* getPluginVersion() const noexcept override { return kPluginVersion; }
  char const* getPluginNamespace() const noexcept override { return mNamespace.c_str(); }
  void setPluginNamespace(char const* ns) noexcept { mNamespace = ns ? ns : ""; }

 private:
  std::string mNamespace;
  std::vector<nvinfer1::PluginField> mFields;
  nvinfer1::PluginFieldCollection mFieldCollection{};
};

// Parse plugin fields into params (unknown fields are ignored, as the parser
// may pass a subset). Returns an empty string or the reason of a failure.
std::string parseFields(nvinfer1::PluginFieldCollection const* fc, IntScaleGemmParams& params);

}  // namespace is_export
