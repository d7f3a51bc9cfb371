// The gratitude plugin (org.kindred.gratitude): notes of what you are
// grateful for, shared with your partner by default: the seed habit of
// sharing gratitude at the end of the day and noticing small efforts.
//
//   kindred gratitude add TEXT [--private]
//   kindred gratitude list [--week]
//
// Linked into the kindred binary; registered by RegisterBuiltinPlugins
// (plugins/builtin.h) through this entry point, like any plugin.
#ifndef KINDRED_PLUGINS_GRATITUDE_GRATITUDE_H_
#define KINDRED_PLUGINS_GRATITUDE_GRATITUDE_H_

#include "kindred/plugin_abi.h"

extern "C" const kindred_plugin_api* kindred_gratitude_plugin_entry(void);

#endif  // KINDRED_PLUGINS_GRATITUDE_GRATITUDE_H_
