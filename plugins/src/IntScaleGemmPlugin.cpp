// The IntScaleGemm TensorRT plugin: see IntScaleGemmPlugin.h for the contract
// with the ONNX parser. The math is in the kernel library (is_kernels.h);
// this file only maps TensorRT's descriptors onto it.
#include "IntScaleGemmPlugin.h"

#include <cstdio>
#include <cstring>

#include "is_kernels.h"

using namespace nvinfer1;

namespace is_export {
namespace {

enum Input : int32_t { kX = 0, kWq = 1, kS = 2, kC = 3, kB = 4 };

void logError(char const* what) noexcept { std::fprintf(stderr, "[IntScaleGemm plugin] error: %s\n", what); }

bool isActivationType(DataType t) { return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16; }

is_dtype_t toKernelType(DataType t) {
  return t == DataType::kHALF ? IS_DTYPE_F16 : t == DataType::kBF16 ? IS_DTYPE_BF16 : IS_DTYPE_F32;
}

// Rows of X: the product of all dims but the last.
int64_t rowsOf(Dims const& d) {
  int64_t m = 1;
  for (int32_t i = 0; i + 1 < d.nbDims; ++i) m *= d.d[i];
  return m;
}

}  // namespace

std::string IntScaleGemmParams::validate() const {
  if (w_bits != 4) return "w_bits must be 4";
  if (a_bits != 8) return "a_bits must be 8";
  if (layout != kLayoutNK_U4X8) return "unsupported layout '" + layout + "' (supported: nk_u4x8)";
  if (group_size < 32 || (group_size & (group_size - 1))) return "group_size must be a power of two >= 32";
  return {};
}

std::string parseFields(PluginFieldCollection const* fc, IntScaleGemmParams& params) {
  if (fc == nullptr) return {};
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    PluginField const& f = fc->fields[i];
    if (f.name == nullptr || f.data == nullptr) continue;
    std::string name = f.name;
    auto readInt = [&](int32_t& dst) -> std::string {
      if (f.type == PluginFieldType::kINT32 && f.length >= 1) { dst = *static_cast<int32_t const*>(f.data); return {}; }
      if (f.type == PluginFieldType::kINT64 && f.length >= 1) { dst = (int32_t) * static_cast<int64_t const*>(f.data); return {}; }
      return "field " + name + " must be an integer";
    };
    std::string err;
    if (name == "group_size") err = readInt(params.group_size);
    else if (name == "w_bits") err = readInt(params.w_bits);
    else if (name == "a_bits") err = readInt(params.a_bits);
    else if (name == "layout") {
      if (f.type != PluginFieldType::kCHAR) return "field layout must be a string";
      char const* s = static_cast<char const*>(f.data);
      params.layout.assign(s, strnlen(s, (size_t)f.length));
    }
    if (!err.empty()) return err;
  }
  return params.validate();
}

IntScaleGemmPlugin::IntScaleGemmPlugin(std::string ns, IntScaleGemmParams params)
    : mNamespace(std::move(ns)), mParams(std::move(params)) {}

IPluginCapability* IntScaleGemmPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
  switch (type) {
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

IPluginV3* IntScaleGemmPlugin::clone() noexcept {
  try {
    auto* p = new IntScaleGemmPlugin(mNamespace, mParams);
    p->mHasBias = mHasBias;
    return p;
  } catch (...) {
    return nullptr;
  }
}

int32_t IntScaleGemmPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes,
                                               int32_t nbInputs) const noexcept {
  if (nbOutputs != 1 || nbInputs < 4 || !isActivationType(inputTypes[kX])) return -1;
  outputTypes[0] = inputTypes[kX];
  return 0;
}

int32_t IntScaleGemmPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs, DimsExprs const*, int32_t,
                                            DimsExprs* outputs, int32_t nbOutputs, IExprBuilder&) noexcept {
  // Y = X.shape[:-1] + [N], N = Wq.shape[0]: a copy of expressions, no arithmetic.
  if (nbInputs < 4 || nbOutputs != 1 || inputs[kX].nbDims < 1 || inputs[kWq].nbDims != 2) return -1;
  outputs[0].nbDims = inputs[kX].nbDims;
  for (int32_t i = 0; i + 1 < inputs[kX].nbDims; ++i) outputs[0].d[i] = inputs[kX].d[i];
  outputs[0].d[inputs[kX].nbDims - 1] = inputs[kWq].d[0];
  return 0;
}

bool IntScaleGemmPlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
                                                   int32_t nbOutputs) noexcept {
  if (nbInputs < 4 || nbInputs > 5 || nbOutputs != 1 || pos < 0 || pos >= nbInputs + nbOutputs) return false;
  PluginTensorDesc const& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR) return false;
  if (pos == kX) return isActivationType(d.type);
  if (pos == kWq || pos == kS) return d.type == DataType::kINT32;
  if (pos == kC) return d.type == DataType::kFLOAT;
  return d.type == inOut[kX].desc.type;  // bias and output follow X
}

bool IntScaleGemmPlugin::checkShapes(Dims const* dims, int32_t nbInputs) const {
  Dims const& x = dims[kX];
  Dims const& wq = dims[kWq];
  Dims const& s = dims[kS];
  Dims const& c = dims[kC];
  if (x.nbDims < 1 || wq.nbDims != 2 || s.nbDims != 2 || c.nbDims != 1) {
    logError("expected X [..., K], Wq [N, K/8], S [N, G], C [N]");
    return false;
  }
  int64_t const K = x.d[x.nbDims - 1], N = wq.d[0];
  if (K >= 0 && (K % mParams.group_size != 0 || wq.d[1] * 8 != K)) {
    logError("K of X must be divisible by group_size and equal 8 * Wq.shape[1]");
    return false;
  }
  if (s.d[0] != N || c.d[0] != N || (K >= 0 && s.d[1] != K / mParams.group_size)) {
    logError("S must be [N, K/group_size] and C [N]");
    return false;
  }
  if (nbInputs == 5 && (dims[kB].nbDims != 1 || dims[kB].d[0] != N)) {
    logError("bias must be [N]");
    return false;
  }
  return true;
}

int32_t IntScaleGemmPlugin::configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                            DynamicPluginTensorDesc const*, int32_t nbOutputs) noexcept {
  if (nbInputs < 4 || nbInputs > 5 || nbOutputs != 1) return -1;
  Dims dims[5];
  for (int32_t i = 0; i < nbInputs; ++i) dims[i] = in[i].desc.dims;
  mHasBias = nbInputs == 5;
  return checkShapes(dims, nbInputs) ? 0 : -1;
}

size_t IntScaleGemmPlugin::getWorkspaceSize(DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
                                            DynamicPluginTensorDesc const*, int32_t) const noexcept {
  if (nbInputs < 4) return 0;
  Dims const& xmax = inputs[kX].max;
  int64_t const M = rowsOf(xmax), K = xmax.d[xmax.nbDims - 1], N = inputs[kWq].max.d[0];
  return is_gemm_workspace_size(M, N, K);
}

int32_t IntScaleGemmPlugin::onShapeChange(PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const*,
                                          int32_t nbOutputs) noexcept {
  if (nbInputs < 4 || nbInputs > 5 || nbOutputs != 1) return -1;
  Dims dims[5];
  for (int32_t i = 0; i < nbInputs; ++i) dims[i] = in[i].dims;
  mHasBias = nbInputs == 5;
  return checkShapes(dims, nbInputs) ? 0 : -1;
}

int32_t IntScaleGemmPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc,
                                    void const* const* inputs, void* const* outputs, void* workspace,
                                    cudaStream_t stream) noexcept {
  Dims const& x = inputDesc[kX].dims;
  int64_t const M = rowsOf(x), K = x.d[x.nbDims - 1], N = inputDesc[kWq].dims.d[0];
  if (M == 0) return 0;  // an empty batch: nothing to compute
  void const* bias = mHasBias ? inputs[kB] : nullptr;
  int const rc = is_int_scale_gemm(inputs[kX], toKernelType(inputDesc[kX].type), static_cast<int32_t const*>(inputs[kWq]),
                                   static_cast<int32_t const*>(inputs[kS]), static_cast<float const*>(inputs[kC]), bias,
                                   outputs[0], M, N, K, mParams.group_size, workspace, is_gemm_workspace_size(M, N, K),
                                   stream);
  if (rc != 0) {
    logError(is_error_string(rc));
    return -1;
  }
  (void)outputDesc;
  return 0;
}

IPluginV3* IntScaleGemmPlugin::attachToContext(IPluginResourceContext*) noexcept { return clone(); }

PluginFieldCollection const* IntScaleGemmPlugin::getFieldsToSerialize() noexcept {
  mSerialFields.clear();
  mSerialFields.emplace_back("group_size", &mParams.group_size, PluginFieldType::kINT32, 1);
  mSerialFields.emplace_back("w_bits", &mParams.w_bits, PluginFieldType::kINT32, 1);
  mSerialFields.emplace_back("a_bits", &mParams.a_bits, PluginFieldType::kINT32, 1);
  mSerialFields.emplace_back("layout", mParams.layout.c_str(), PluginFieldType::kCHAR,
                             (int32_t)mParams.layout.size() + 1);
  mSerialCollection.nbFields = (int32_t)mSerialFields.size();
  mSerialCollection.fields = mSerialFields.data();
  return &mSerialCollection;
}

IntScaleGemmCreator::IntScaleGemmCreator() {
  mFields.emplace_back("group_size", nullptr, PluginFieldType::kINT32, 1);
  mFields.emplace_back("w_bits", nullptr, PluginFieldType::kINT32, 1);
  mFields.emplace_back("a_bits", nullptr, PluginFieldType::kINT32, 1);
  mFields.emplace_back("layout", nullptr, PluginFieldType::kCHAR, 0);
  mFieldCollection.nbFields = (int32_t)mFields.size();
  mFieldCollection.fields = mFields.data();
}

IPluginV3* IntScaleGemmCreator::createPlugin(char const* name, PluginFieldCollection const* fc,
                                             TensorRTPhase) noexcept {
  try {
    IntScaleGemmParams params;
    std::string err = parseFields(fc, params);
    if (!err.empty()) {
      std::string msg = std::string("node ") + (name ? name : "?") + ": " + err;
      logError(msg.c_str());
      return nullptr;
    }
    return new IntScaleGemmPlugin(mNamespace, params);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace is_export
