// libis_plugins.so: registers the IntScaleGemm creator when the library is
// loaded (what ctypes.CDLL, Polygraphy --plugins and trtexec --staticPlugins
// expect).
//
// REGISTER_TENSORRT_PLUGIN would call getPluginRegistry() from libnvinfer
// and so need a link against it. Instead getPluginRegistry is looked up with
// dlsym in the process: wherever TensorRT is in use, libnvinfer is already
// loaded and the creator is registered; where it is not (this project's CI,
// the GPU test machine), loading the library does nothing and does not fail.
#include <dlfcn.h>

#include <cstdio>

#include "IntScaleGemmPlugin.h"

namespace {

using GetRegistryFn = nvinfer1::IPluginRegistry* (*)();

GetRegistryFn findGetPluginRegistry() {
  if (void* sym = dlsym(RTLD_DEFAULT, "getPluginRegistry")) return reinterpret_cast<GetRegistryFn>(sym);
  // libnvinfer may be loaded with RTLD_LOCAL (e.g. by the TensorRT Python module).
  for (char const* name : {"libnvinfer.so.10", "libnvinfer.so"}) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_NOLOAD)) {
      if (void* sym = dlsym(h, "getPluginRegistry")) return reinterpret_cast<GetRegistryFn>(sym);
    }
  }
  return nullptr;
}

struct StaticRegistration {
  is_export::IntScaleGemmCreator creator;
  StaticRegistration() {
    GetRegistryFn get = findGetPluginRegistry();
    if (get == nullptr) return;  // no TensorRT in this process: nothing to register with
    nvinfer1::IPluginRegistry* registry = get();
    if (registry == nullptr || !registry->registerCreator(creator, "")) {
      std::fprintf(stderr, "[IntScaleGemm plugin] warning: could not register the creator with TensorRT\n");
    }
  }
};

StaticRegistration gRegistration;

}  // namespace

// Lets tests and tools check that this library holds the plugin without TensorRT.
extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* is_export_static_creator() {
  return &gRegistration.creator;
}
