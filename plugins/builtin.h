// The plugins linked into the kindred binary, registered in one place.
#ifndef KINDRED_PLUGINS_BUILTIN_H_
#define KINDRED_PLUGINS_BUILTIN_H_

#include "engine/plugin/registry.h"

namespace kindred {

// Adds every first-party plugin to `registry`, explicitly, through the same
// C ABI a third-party plugin uses. Call once, from main() (or a test), on a
// registry it owns. A plugin that fails its checks is recorded in the
// registry as failed; the others are still added.
void RegisterBuiltinPlugins(plugin::Registry& registry);

}  // namespace kindred

#endif  // KINDRED_PLUGINS_BUILTIN_H_
