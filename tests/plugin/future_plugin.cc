// A shared-library plugin built for plugin ABI version 2, which this Kindred
// does not speak: loading it must fail, naming both versions.
#include <cstddef>

#include "kindred/plugin_abi.h"

namespace {
kindred_plugin_status Describe(const kindred_sink*) { return KINDRED_PLUGIN_INTERNAL; }
kindred_plugin_status Create(const kindred_host_api*, void**, const kindred_sink*) {
  return KINDRED_PLUGIN_INTERNAL;
}
void Destroy(void*) {}
kindred_plugin_status Call(void*, const uint8_t*, size_t, const kindred_sink*) {
  return KINDRED_PLUGIN_INTERNAL;
}
}  // namespace

extern "C" __attribute__((visibility("default"))) const kindred_plugin_api* kindred_plugin_entry(
    void) {
  static const kindred_plugin_api table = {
      sizeof(kindred_plugin_api), 2u, &Describe, &Create, &Destroy, &Call, &Call};
  return &table;
}
