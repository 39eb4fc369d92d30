// Drives the IntScaleGemm plugin through the calls TensorRT makes, on real
// device buffers, without the TensorRT runtime (nothing from libnvinfer is
// linked: only the headers' interfaces are used).
//
//   plugin_host CASE_DIR
//
// CASE_DIR holds meta.txt ("M N K group_size dtype has_bias", dtype 0 = fp32,
// 1 = fp16, 2 = bf16) and raw little-endian X.bin, Wq.bin, S.bin, C.bin
// (B.bin when has_bias), written by tests/test_gpu_plugin.py from the NumPy
// reference. The host writes Y_first.bin (plugin made by the creator from
// fields, then cloned) and Y_reloaded.bin (plugin re-created from
// getFieldsToSerialize, as at engine deserialization). The Python test
// compares both with the reference. Exit code 0 only if every call succeeded.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "IntScaleGemmPlugin.h"

using namespace nvinfer1;

#define CHECK(cond, msg)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      std::fprintf(stderr, "plugin_host: FAILED: %s\n", msg);     \
      std::exit(1);                                               \
    }                                                             \
  } while (0)
#define CUDA_CHECK(call)                                                                       \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "plugin_host: CUDA error %s at %s\n", cudaGetErrorString(e_), #call); \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

static std::vector<char> readFile(std::string const& path) {
  std::ifstream f(path, std::ios::binary);
  CHECK(f.good(), ("cannot read " + path).c_str());
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static void* toDevice(std::vector<char> const& host) {
  void* d = nullptr;
  CUDA_CHECK(cudaMalloc(&d, host.size()));
  CUDA_CHECK(cudaMemcpy(d, host.data(), host.size(), cudaMemcpyHostToDevice));
  return d;
}

static Dims makeDims(std::initializer_list<int64_t> v) {
  Dims d{};
  d.nbDims = (int32_t)v.size();
  int i = 0;
  for (int64_t x : v) d.d[i++] = x;
  return d;
}

static DynamicPluginTensorDesc dynDesc(Dims dims, DataType t) {
  DynamicPluginTensorDesc d{};
  d.desc.dims = dims;
  d.desc.type = t;
  d.desc.format = TensorFormat::kLINEAR;
  d.min = d.opt = d.max = dims;
  return d;
}

// Runs one plugin (build + runtime calls) and returns the output bytes.
static std::vector<char> runPlugin(IPluginV3* plugin, std::vector<DynamicPluginTensorDesc> const& in,
                                   DynamicPluginTensorDesc const& out, std::vector<void*> const& dIn, size_t outBytes) {
  auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  CHECK(build && runtime, "capability interfaces");
  const int32_t nbIn = (int32_t)in.size();

  std::vector<DataType> inTypes;
  for (auto const& d : in) inTypes.push_back(d.desc.type);
  DataType outType{};
  CHECK(build->getOutputDataTypes(&outType, 1, inTypes.data(), nbIn) == 0 && outType == in[0].desc.type,
        "getOutputDataTypes follows X");

  std::vector<DynamicPluginTensorDesc> io(in);
  io.push_back(out);
  for (int32_t pos = 0; pos < nbIn + 1; ++pos) CHECK(build->supportsFormatCombination(pos, io.data(), nbIn, 1), "supported combination");
  // A wrong type at each position must be refused.
  for (int32_t pos = 0; pos < nbIn + 1; ++pos) {
    auto bad = io;
    bad[pos].desc.type = (bad[pos].desc.type == DataType::kINT32) ? DataType::kFLOAT : DataType::kINT8;
    CHECK(!build->supportsFormatCombination(pos, bad.data(), nbIn, 1), "unsupported combination refused");
  }
  CHECK(build->configurePlugin(in.data(), nbIn, &out, 1) == 0, "configurePlugin");
  size_t ws = build->getWorkspaceSize(in.data(), nbIn, &out, 1);
  CHECK(ws > 0, "getWorkspaceSize");

  std::vector<PluginTensorDesc> inDesc;
  for (auto const& d : in) inDesc.push_back(d.desc);
  CHECK(runtime->onShapeChange(inDesc.data(), nbIn, &out.desc, 1) == 0, "onShapeChange");
  void* dWs = nullptr;
  void* dOut = nullptr;
  CUDA_CHECK(cudaMalloc(&dWs, ws));
  CUDA_CHECK(cudaMalloc(&dOut, outBytes));
  CUDA_CHECK(cudaMemset(dOut, 0xFF, outBytes));  // poison: every element must be written
  std::vector<void const*> inPtrs(dIn.begin(), dIn.end());
  void* outPtrs[] = {dOut};
  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreate(&stream));
  CHECK(runtime->enqueue(inDesc.data(), &out.desc, inPtrs.data(), outPtrs, dWs, stream) == 0, "enqueue");
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaGetLastError());
  std::vector<char> host(outBytes);
  CUDA_CHECK(cudaMemcpy(host.data(), dOut, outBytes, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaStreamDestroy(stream));
  CUDA_CHECK(cudaFree(dWs));
  CUDA_CHECK(cudaFree(dOut));
  return host;
}

int main(int argc, char** argv) {
  CHECK(argc == 2, "usage: plugin_host CASE_DIR");
  std::string dir = argv[1];
  int64_t M, N, K;
  int gs, dtype, hasBias;
  {
    std::ifstream meta(dir + "/meta.txt");
    CHECK(meta >> M >> N >> K >> gs >> dtype >> hasBias, "meta.txt");
  }
  DataType xt = dtype == 0 ? DataType::kFLOAT : dtype == 1 ? DataType::kHALF : DataType::kBF16;
  size_t elem = dtype == 0 ? 4 : 2;

  // creator -> createPlugin(fields) as the ONNX parser does with node attributes.
  is_export::IntScaleGemmCreator creator;
  CHECK(std::string(creator.getPluginName()) == "IntScaleGemm" && std::string(creator.getPluginVersion()) == "1", "name/version");
  PluginFieldCollection const* names = creator.getFieldNames();
  CHECK(names->nbFields == 4, "four fields");
  int32_t fGs = gs, fW = 4, fA = 8;
  char const* layout = "nk_u4x8";
  std::vector<PluginField> fields = {
      {"group_size", &fGs, PluginFieldType::kINT32, 1},
      {"w_bits", &fW, PluginFieldType::kINT32, 1},
      {"a_bits", &fA, PluginFieldType::kINT32, 1},
      {"layout", layout, PluginFieldType::kCHAR, 8},
  };
  PluginFieldCollection fc{(int32_t)fields.size(), fields.data()};
  std::unique_ptr<IPluginV3> made(creator.createPlugin("node0", &fc, TensorRTPhase::kBUILD));
  CHECK(made != nullptr, "createPlugin");
  // Bad attributes are refused with a message, not a crash.
  int32_t badBits = 3;
  PluginField badField{"w_bits", &badBits, PluginFieldType::kINT32, 1};
  PluginFieldCollection badFc{1, &badField};
  CHECK(creator.createPlugin("bad", &badFc, TensorRTPhase::kBUILD) == nullptr, "w_bits=3 refused");
  std::unique_ptr<IPluginV3> plugin(made->clone());
  CHECK(plugin != nullptr, "clone");
  auto* core = static_cast<IPluginV3OneCore*>(plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
  CHECK(std::string(core->getPluginName()) == "IntScaleGemm", "core name");

  // getOutputShapes only copies expressions; opaque stand-ins are enough to check which ones.
  {
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    alignas(8) char tokens[8][8];
    auto tok = [&](int i) { return reinterpret_cast<IDimensionExpr const*>(tokens[i]); };
    DimsExprs in[4]{};
    in[0].nbDims = 3; in[0].d[0] = tok(0); in[0].d[1] = tok(1); in[0].d[2] = tok(2);
    in[1].nbDims = 2; in[1].d[0] = tok(3); in[1].d[1] = tok(4);
    in[2].nbDims = 2; in[3].nbDims = 1;
    DimsExprs outE{};
    // Never used by the plugin (it does no arithmetic on dims): storage stands in for it.
    alignas(IExprBuilder) char ebStorage[sizeof(IExprBuilder)];
    auto& eb = *reinterpret_cast<IExprBuilder*>(ebStorage);
    CHECK(build->getOutputShapes(in, 4, nullptr, 0, &outE, 1, eb) == 0, "getOutputShapes");
    CHECK(outE.nbDims == 3 && outE.d[0] == tok(0) && outE.d[1] == tok(1) && outE.d[2] == tok(3), "Y = X[:-1] + [N]");
  }

  std::vector<std::vector<char>> host = {readFile(dir + "/X.bin"), readFile(dir + "/Wq.bin"), readFile(dir + "/S.bin"),
                                         readFile(dir + "/C.bin")};
  if (hasBias) host.push_back(readFile(dir + "/B.bin"));
  std::vector<void*> dIn;
  for (auto const& h : host) dIn.push_back(toDevice(h));
  std::vector<DynamicPluginTensorDesc> in = {
      dynDesc(makeDims({M, K}), xt), dynDesc(makeDims({N, K / 8}), DataType::kINT32),
      dynDesc(makeDims({N, K / gs}), DataType::kINT32), dynDesc(makeDims({N}), DataType::kFLOAT)};
  if (hasBias) in.push_back(dynDesc(makeDims({N}), xt));
  DynamicPluginTensorDesc out = dynDesc(makeDims({M, N}), xt);
  size_t outBytes = (size_t)M * N * elem;

  std::vector<char> y1 = runPlugin(plugin.get(), in, out, dIn, outBytes);

  // Serialize -> re-create, as at engine deserialization.
  auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  PluginFieldCollection const* ser = runtime->getFieldsToSerialize();
  CHECK(ser != nullptr && ser->nbFields == 4, "getFieldsToSerialize");
  std::unique_ptr<IPluginV3> reloaded(creator.createPlugin("node0", ser, TensorRTPhase::kRUNTIME));
  CHECK(reloaded != nullptr, "createPlugin from serialized fields");
  std::unique_ptr<IPluginV3> attached(
      static_cast<IPluginV3OneRuntime*>(reloaded->getCapabilityInterface(PluginCapabilityType::kRUNTIME))->attachToContext(nullptr));
  CHECK(attached != nullptr, "attachToContext");
  std::vector<char> y2 = runPlugin(attached.get(), in, out, dIn, outBytes);

  std::ofstream(dir + "/Y_first.bin", std::ios::binary).write(y1.data(), (std::streamsize)y1.size());
  std::ofstream(dir + "/Y_reloaded.bin", std::ios::binary).write(y2.data(), (std::streamsize)y2.size());
  for (void* p : dIn) CUDA_CHECK(cudaFree(p));
  std::printf("plugin_host: OK M=%lld N=%lld K=%lld gs=%d dtype=%d bias=%d\n", (long long)M, (long long)N, (long long)K, gs,
              dtype, hasBias);
  return 0;
}
