/* Kindred's plugin ABI, version 1: the one boundary between the engine's
 * plugin host and a plugin. Plain C, so that a plugin may be built by any
 * compiler, loaded with dlopen, and later run in a separate, sandboxed
 * process without a change to this shape. docs/plugins.md is the manual.
 *
 * Shape
 *   - A plugin exports one function, `kindred_plugin_entry`, which returns
 *     its table of functions (kindred_plugin_api). Plugins linked into the
 *     kindred binary export the same function under a name of their own.
 *   - Every table begins with its own size and the ABI version. Tables only
 *     ever grow by appending fields; a reader uses a field only when the
 *     table's struct_size says it is there. A change that cannot be made by
 *     appending is a new ABI version.
 *   - Every call passes bytes in and gets bytes out. The bytes are protobuf
 *     messages of package kindred.plugin.v1 (proto/plugin/v1/plugin.proto).
 *     No C++ object, no protobuf class, no key and no pointer into the
 *     engine crosses this boundary.
 *
 * Ownership of buffers
 *   - Input (`in`, `in_size`): owned by the caller, valid only during the
 *     call. The callee copies what it keeps.
 *   - Output: the callee hands its bytes to the caller's kindred_sink by
 *     calling sink->write(sink->ctx, data, size), at most once per call.
 *     `data` stays owned by the callee and is valid only during write(); the
 *     sink copies it. Nothing is ever freed across the boundary.
 *   - A call that returns KINDRED_PLUGIN_OK wrote its output message (an
 *     empty message may be written as zero bytes, or not at all). A call
 *     that fails returns another code and may write a UTF-8 message saying
 *     why instead.
 *   - The kindred_host_api a plugin gets in create() (and its `ctx`) is owned
 *     by the host and valid until destroy() returns. The table returned by
 *     the entry point is owned by the plugin and must stay valid while the
 *     library is loaded (a static const table).
 *
 * Threading: the host calls one plugin instance from one thread at a time.
 * A plugin may call the host's functions only from inside a call the host
 * made to it, on that thread.
 */
#ifndef KINDRED_PLUGIN_ABI_H_
#define KINDRED_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this ABI. The host loads only plugins built for the same
 * version, and names both versions when they differ. */
#define KINDRED_PLUGIN_ABI_VERSION 1u

/* The symbol a shared-library plugin exports (see kindred_plugin_entry_fn). */
#define KINDRED_PLUGIN_ENTRY_SYMBOL "kindred_plugin_entry"

/* Outcomes of a call. */
typedef int32_t kindred_plugin_status;
#define KINDRED_PLUGIN_OK 0
#define KINDRED_PLUGIN_INVALID_ARGUMENT 1  /* the input could not be read or made no sense */
#define KINDRED_PLUGIN_NOT_FOUND 2         /* (host) no such record or view */
#define KINDRED_PLUGIN_PERMISSION_DENIED 3 /* (host) the manifest does not allow it */
#define KINDRED_PLUGIN_FAILED 4            /* the call failed (e.g. the store refused) */
#define KINDRED_PLUGIN_INTERNAL 5          /* a bug: an exception, a broken invariant */

/* Where a callee writes its output (see "Ownership of buffers"). */
typedef struct kindred_sink {
  void* ctx;
  void (*write)(void* ctx, const uint8_t* data, size_t size);
} kindred_sink;

/* What the host offers a plugin instance. Each function takes the table's
 * `ctx`, a request message and a sink for the response message. */
typedef struct kindred_host_api {
  uint32_t struct_size; /* sizeof(kindred_host_api) as the host was built */
  uint32_t abi_version; /* KINDRED_PLUGIN_ABI_VERSION */
  void* ctx;            /* the host's; pass it back unchanged */

  /* QueryRequest -> QueryResponse: records of one of the plugin's own
   * collections, or of a collection its manifest may read (only the records
   * its scope allows). Anything else is PERMISSION_DENIED, and the host
   * disables the plugin. */
  kindred_plugin_status (*query)(void* ctx, const uint8_t* in, size_t in_size,
                                 const kindred_sink* out);

  /* CommitRequest -> CommitResponse: changes to the plugin's own
   * collections, applied atomically, synced and end-to-end encrypted by the
   * engine. A change to another collection, or to a field the manifest does
   * not declare, is PERMISSION_DENIED, nothing is written, and the host
   * disables the plugin. */
  kindred_plugin_status (*commit)(void* ctx, const uint8_t* in, size_t in_size,
                                  const kindred_sink* out);

  /* ReadViewRequest -> ReadViewResponse: rows of one of the plugin's own
   * views, as of the start of the current command. */
  kindred_plugin_status (*read_view)(void* ctx, const uint8_t* in, size_t in_size,
                                     const kindred_sink* out);
} kindred_host_api;

/* What a plugin offers the host. */
typedef struct kindred_plugin_api {
  uint32_t struct_size; /* sizeof(kindred_plugin_api) as the plugin was built */
  uint32_t abi_version; /* KINDRED_PLUGIN_ABI_VERSION the plugin was built for */

  /* -> Manifest. Called without an instance, possibly many times; must not
   * call the host. */
  kindred_plugin_status (*describe)(const kindred_sink* out);

  /* Makes an instance bound to `host` (valid until destroy returns) and
   * stores it in *instance. On failure, may write a message to `error`. */
  kindred_plugin_status (*create)(const kindred_host_api* host, void** instance,
                                  const kindred_sink* error);

  /* Ends an instance made by create. */
  void (*destroy)(void* instance);

  /* CommandRequest -> CommandResponse: runs one of the manifest's commands. */
  kindred_plugin_status (*run_command)(void* instance, const uint8_t* in, size_t in_size,
                                       const kindred_sink* out);

  /* ViewUpdateRequest -> ViewUpdateResponse: the rows of a view to put and
   * remove, given the records of its sources that changed. */
  kindred_plugin_status (*update_view)(void* instance, const uint8_t* in, size_t in_size,
                                       const kindred_sink* out);
} kindred_plugin_api;

/* The entry point: returns the plugin's table (never NULL for a working
 * plugin). Exported as KINDRED_PLUGIN_ENTRY_SYMBOL by shared libraries. */
typedef const kindred_plugin_api* (*kindred_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KINDRED_PLUGIN_ABI_H_ */
