// Plugins made for the host's tests, each behind its own entry point:
//
//   org.test.notes    well behaved (SDK): a collection with one field per
//                     merge rule, views, and commands that do what their
//                     arguments say, including things its manifest forbids
//                     (read or write what it may not, throw, commit and
//                     then throw).
//   org.test.garbage  raw ABI: answers run_command with bytes that are not a
//                     CommandResponse, and update_view with a broken one.
//   org.test.spy      raw ABI: reads the journal and its own records and
//                     returns every byte it received, hex encoded.
//   org.test.future   raw ABI: a table of ABI version 2.
#ifndef KINDRED_TESTS_PLUGIN_TEST_PLUGINS_H_
#define KINDRED_TESTS_PLUGIN_TEST_PLUGINS_H_

#include "kindred/plugin_abi.h"

extern "C" {
const kindred_plugin_api* test_notes_plugin_entry(void);
// The same plugin, with its views at version 2.
const kindred_plugin_api* test_notes_v2_plugin_entry(void);
const kindred_plugin_api* test_garbage_plugin_entry(void);
const kindred_plugin_api* test_spy_plugin_entry(void);
const kindred_plugin_api* test_future_plugin_entry(void);
}

#endif  // KINDRED_TESTS_PLUGIN_TEST_PLUGINS_H_
