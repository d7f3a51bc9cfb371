#include "plugins/builtin.h"

#include "plugins/gratitude/gratitude.h"
#include "plugins/repair/repair.h"
#include "plugins/stats/stats.h"

namespace kindred {

void RegisterBuiltinPlugins(plugin::Registry& registry) {
  // Each failure is recorded in the registry (`kindred plugins` shows it).
  registry.AddBuiltin(&kindred_gratitude_plugin_entry).IgnoreError();
  registry.AddBuiltin(&kindred_repair_plugin_entry).IgnoreError();
  registry.AddBuiltin(&kindred_stats_plugin_entry).IgnoreError();
}

}  // namespace kindred
