// libis_plugins_dynamic.so: exports getCreators() for
// `trtexec --dynamicPlugins=...` and IPluginRegistry::loadLibrary, which call
// it and register what it returns. It registers nothing by itself, so it can
// be loaded next to nothing else: loading both libraries would register the
// creator twice, which TensorRT refuses.
#include "IntScaleGemmPlugin.h"

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* const* getCreators(
    int32_t& nbCreators) {
  static is_export::IntScaleGemmCreator creator;
  static nvinfer1::IPluginCreatorInterface* const creators[] = {&creator};
  nbCreators = 1;
  return creators;
}
