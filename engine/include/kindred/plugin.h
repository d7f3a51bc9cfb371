// Kindred's plugin SDK: write a plugin as an ordinary C++ class.
//
//   #include <kindred/plugin.h>
//
//   class Hello final : public kindred::plugin::Plugin {
//    public:
//     kindred::plugin::Manifest Describe() const override {
//       kindred::plugin::Manifest m{"org.example.hello", "1.0.0", "Say hello to each other"};
//       m.Collection("greetings").Field("text", kindred::plugin::MergeRule::kKeepBoth);
//       m.Command({"hello", "say"}, "Leave a greeting").Rest("text", "What to say");
//       return m;
//     }
//     kindred::plugin::CommandResult Run(const kindred::plugin::Command& command,
//                                        kindred::plugin::Host& host) override {
//       auto id = host.Commit(kindred::plugin::Change::Create("greetings")
//                                 .Shared(true).Set("text", command.Get("text")));
//       if (!id.ok()) return kindred::plugin::CommandResult::Usage(id.error().message);
//       return kindred::plugin::CommandResult::Ok(*id + "\n");
//     }
//   };
//   KINDRED_PLUGIN(Hello)
//
// The SDK is header-only and needs only the standard library: it speaks the
// C ABI of kindred/plugin_abi.h and encodes its messages itself
// (kindred/plugin_wire.h). It turns exceptions into errors at the boundary,
// so a plugin that throws is reported and disabled, never takes Kindred down.
// docs/plugins.md is the tutorial and the reference.
#ifndef KINDRED_PLUGIN_H_
#define KINDRED_PLUGIN_H_

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kindred/plugin_abi.h"
#include "kindred/plugin_types.h"
#include "kindred/plugin_wire.h"

namespace kindred::plugin {

namespace internal {

// A sink that keeps what the callee writes.
struct Collected {
  std::string bytes;
  static void Write(void* ctx, const uint8_t* data, size_t size) {
    static_cast<Collected*>(ctx)->bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  kindred_sink sink() { return kindred_sink{this, &Collected::Write}; }
};

inline void WriteTo(const kindred_sink* sink, const std::string& bytes) {
  if (sink != nullptr && sink->write != nullptr) {
    sink->write(sink->ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
}

}  // namespace internal

// The engine, as a plugin sees it: its own collections and views, and what
// its manifest may read. Every call goes through the host, which checks it
// against the manifest; a call the manifest does not allow fails with
// KINDRED_PLUGIN_PERMISSION_DENIED and gets the plugin disabled.
//
// Valid only inside the Plugin call it was passed to; call it from that
// call's thread.
class Host {
 public:
  // `api` is owned by the host and outlives the plugin instance.
  explicit Host(const kindred_host_api* api) : api_(api) {}

  // Records matching `query` (live ones only), in id order.
  Result<std::vector<Record>> Read(const Query& query) {
    auto bytes = Call(api_->query, wire::Encode(query).bytes());
    if (!bytes.ok()) return bytes.error();
    std::vector<Record> records;
    if (!wire::DecodeRepeated(*bytes, 1, &records)) return Malformed("query");
    return records;
  }
  // Every record of `collection` this plugin may see.
  Result<std::vector<Record>> All(std::string collection) {
    return Read(Query{std::move(collection), "", "", ""});
  }
  // The records of `collection` whose list field `field` holds `item`.
  Result<std::vector<Record>> WithItem(std::string collection, std::string field,
                                       std::string item) {
    return Read(Query{std::move(collection), std::move(field), std::move(item), ""});
  }
  // One record by id; KINDRED_PLUGIN_NOT_FOUND when there is none.
  Result<Record> Get(std::string collection, std::string id) {
    auto records = Read(Query{std::move(collection), "", "", std::move(id)});
    if (!records.ok()) return records.error();
    if (records->empty()) return Error{KINDRED_PLUGIN_NOT_FOUND, "no such record"};
    return std::move(records->front());
  }

  // Applies `changes` as one atomic commit; the ids of the records, in order.
  Result<std::vector<std::string>> Commit(const std::vector<Change>& changes) {
    wire::Writer request;
    for (const Change& c : changes) request.Message(1, wire::Encode(c));
    auto bytes = Call(api_->commit, request.bytes());
    if (!bytes.ok()) return bytes.error();
    std::vector<std::string> ids;
    if (!wire::DecodeStrings(*bytes, 1, &ids) || ids.size() != changes.size()) {
      return Malformed("commit");
    }
    return ids;
  }
  // One change; the record's id.
  Result<std::string> Commit(const Change& change) {
    auto ids = Commit(std::vector<Change>{change});
    if (!ids.ok()) return ids.error();
    return std::move(ids->front());
  }

  // Rows of one of this plugin's views whose key starts with `prefix`, in
  // key order, as they stood when the current command began.
  Result<std::vector<ViewRow>> ReadView(std::string_view view, std::string_view prefix = "") {
    wire::Writer request;
    request.String(1, view);
    request.String(2, prefix);
    auto bytes = Call(api_->read_view, request.bytes());
    if (!bytes.ok()) return bytes.error();
    std::vector<ViewRow> rows;
    if (!wire::DecodeRepeated(*bytes, 1, &rows)) return Malformed("read_view");
    return rows;
  }

 private:
  using Fn = kindred_plugin_status (*)(void*, const uint8_t*, size_t, const kindred_sink*);
  Result<std::string> Call(Fn fn, const std::string& request) {
    internal::Collected reply;
    kindred_sink sink = reply.sink();
    kindred_plugin_status status =
        fn(api_->ctx, reinterpret_cast<const uint8_t*>(request.data()), request.size(), &sink);
    if (status != KINDRED_PLUGIN_OK) return Error{status, std::move(reply.bytes)};
    return std::move(reply.bytes);
  }
  static Error Malformed(const char* call) {
    return Error{KINDRED_PLUGIN_INTERNAL,
                 std::string("the host's reply to ") + call + " could not be read"};
  }

  const kindred_host_api* api_;
};

// A plugin. Subclass it, override Describe and Run (and UpdateView if the
// manifest declares views), and export it with KINDRED_PLUGIN(Class).
//
// The class needs a default constructor. One instance serves one open
// engine; the host calls it from one thread at a time. Exceptions that
// escape these methods are caught by the SDK and reported as a failure of
// the plugin (which the host then disables).
class Plugin {
 public:
  virtual ~Plugin() = default;

  // The manifest: who the plugin is and what it may do. Must not depend on
  // anything but the code (the host may ask for it before any instance exists).
  virtual Manifest Describe() const = 0;

  // Runs one of the manifest's commands.
  virtual CommandResult Run(const Command& command, Host& host) = 0;

  // The rows to put and remove in view `changes.view`, given the records of
  // its sources that changed. Only called for views the manifest declares.
  virtual ViewUpdate UpdateView(const ViewChanges& /*changes*/, Host& /*host*/) { return {}; }
};

namespace internal {

struct Instance {
  Host host;
  std::unique_ptr<Plugin> plugin;
};

inline kindred_plugin_status Failed(const kindred_sink* out, const char* what) {
  WriteTo(out, std::string("the plugin threw an exception: ") + what);
  return KINDRED_PLUGIN_INTERNAL;
}

// The C functions of the table, for plugin class T.
template <typename T>
struct Adapter {
  static kindred_plugin_status Describe(const kindred_sink* out) {
    try {
      T plugin;
      WriteTo(out, wire::Encode(static_cast<const Plugin&>(plugin).Describe()).bytes());
      return KINDRED_PLUGIN_OK;
    } catch (const std::exception& e) {
      return Failed(out, e.what());
    } catch (...) {
      return Failed(out, "(not a std::exception)");
    }
  }

  static kindred_plugin_status Create(const kindred_host_api* host, void** instance,
                                      const kindred_sink* error) {
    try {
      if (host == nullptr || instance == nullptr ||
          host->abi_version != KINDRED_PLUGIN_ABI_VERSION ||
          host->struct_size < sizeof(kindred_host_api)) {
        WriteTo(error, "the host does not speak this plugin's ABI version");
        return KINDRED_PLUGIN_INVALID_ARGUMENT;
      }
      auto made = std::make_unique<Instance>(Instance{Host(host), std::make_unique<T>()});
      *instance = made.release();  // owned by the host until Destroy
      return KINDRED_PLUGIN_OK;
    } catch (const std::exception& e) {
      return Failed(error, e.what());
    } catch (...) {
      return Failed(error, "(not a std::exception)");
    }
  }

  static void Destroy(void* instance) {
    try {
      std::unique_ptr<Instance> owned(static_cast<Instance*>(instance));
    } catch (...) {
      // A destructor that throws: nothing more can be done for it.
    }
  }

  static kindred_plugin_status RunCommand(void* instance, const uint8_t* in, size_t in_size,
                                          const kindred_sink* out) {
    try {
      Command command;
      if (!wire::DecodeMessage(std::string_view(reinterpret_cast<const char*>(in), in_size),
                               &command)) {
        WriteTo(out, "the command request could not be read");
        return KINDRED_PLUGIN_INVALID_ARGUMENT;
      }
      auto* self = static_cast<Instance*>(instance);
      CommandResult result = self->plugin->Run(command, self->host);
      WriteTo(out, wire::Encode(result).bytes());
      return KINDRED_PLUGIN_OK;
    } catch (const std::exception& e) {
      return Failed(out, e.what());
    } catch (...) {
      return Failed(out, "(not a std::exception)");
    }
  }

  static kindred_plugin_status UpdateView(void* instance, const uint8_t* in, size_t in_size,
                                          const kindred_sink* out) {
    try {
      ViewChanges changes;
      if (!wire::DecodeMessage(std::string_view(reinterpret_cast<const char*>(in), in_size),
                               &changes)) {
        WriteTo(out, "the view update request could not be read");
        return KINDRED_PLUGIN_INVALID_ARGUMENT;
      }
      auto* self = static_cast<Instance*>(instance);
      ViewUpdate update = self->plugin->UpdateView(changes, self->host);
      WriteTo(out, wire::Encode(update).bytes());
      return KINDRED_PLUGIN_OK;
    } catch (const std::exception& e) {
      return Failed(out, e.what());
    } catch (...) {
      return Failed(out, "(not a std::exception)");
    }
  }

  // The plugin's table: immutable, lives as long as the library.
  static const kindred_plugin_api* Table() {
    static const kindred_plugin_api table = {sizeof(kindred_plugin_api),
                                             KINDRED_PLUGIN_ABI_VERSION,
                                             &Describe,
                                             &Create,
                                             &Destroy,
                                             &RunCommand,
                                             &UpdateView};
    return &table;
  }
};

}  // namespace internal
}  // namespace kindred::plugin

// Defines the entry point `entry_name` returning PluginClass's table. Used by
// plugins linked into the kindred binary, each under its own name (see
// plugins/builtin.cc).
#define KINDRED_PLUGIN_ENTRY(PluginClass, entry_name)                  \
  extern "C" const kindred_plugin_api* entry_name(void) {              \
    return ::kindred::plugin::internal::Adapter<PluginClass>::Table(); \
  }

// Exports PluginClass from a shared library as `kindred_plugin_entry`, the
// symbol the host looks for with dlsym. One per library.
#define KINDRED_PLUGIN(PluginClass)                                           \
  extern "C" __attribute__((visibility("default"))) const kindred_plugin_api* \
  kindred_plugin_entry(void) {                                                \
    return ::kindred::plugin::internal::Adapter<PluginClass>::Table();        \
  }

#endif  // KINDRED_PLUGIN_H_
