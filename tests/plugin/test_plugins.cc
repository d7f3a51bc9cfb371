#include "tests/plugin/test_plugins.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "kindred/plugin.h"

namespace kindred::plugin_testing {
namespace {

namespace kp = ::kindred::plugin;
using nlohmann::json;

kp::CommandResult Error(const kp::Error& e) {
  kp::CommandResult r;
  r.exit_code = 3;
  r.err = "code " + std::to_string(e.code) + ": " + e.message;
  return r;
}

template <uint32_t kViewVersion>
class NotesPlugin final : public kp::Plugin {
 public:
  kp::Manifest Describe() const override {
    kp::Manifest m{"org.test.notes", "1.0." + std::to_string(kViewVersion),
                   "Notes for the host's tests"};
    m.Collection("items")
        .Field("title", kp::MergeRule::kLastWriterWins)
        .Field("body", kp::MergeRule::kKeepBoth)
        .Field("likes", kp::MergeRule::kCounter)
        .Field("tags", kp::MergeRule::kAddWinsSet)
        .Field("log", kp::MergeRule::kAppendOnly);
    m.Reads("journal", kp::ReadScope::kSharedOnly);
    m.View("titles", kViewVersion).From("items");
    m.View("shared_journal", 1).From("journal");
    m.Command({"notes", "create"}, "Create an item")
        .Option("title", "Title")
        .Option("body", "Body")
        .Flag("shared", "Share it");
    m.Command({"notes", "update"}, "Change an item")
        .Positional("id", "Item")
        .Option("title", "Title")
        .Option("body", "Body")
        .Option("like", "Add to likes", kp::ValueType::kInteger)
        .Option("tag", "Add a tag")
        .Option("untag", "Remove a tag")
        .Option("log", "Append to the log")
        .Flag("share", "Share it from now on")
        .Flag("unshare", "Make it private from now on");
    m.Command({"notes", "get"}, "Show an item as JSON").Positional("id", "Item");
    m.Command({"notes", "read"}, "Read any collection").Positional("collection", "Collection");
    m.Command({"notes", "write"}, "Write to any collection").Positional("collection", "Collection");
    m.Command({"notes", "view"}, "Rows of a view as JSON").Positional("view", "View");
    m.Command({"notes", "throw"}, "Throw an exception");
    m.Command({"notes", "commit-then-throw"}, "Create an item, update it, then throw")
        .Option("title", "Title");
    m.Command({"notes", "report"}, "Return a file")
        .Option("out", "Where", kp::ValueType::kOutputFile)
        .Option("other", "Not a file");
    return m;
  }

  kp::CommandResult Run(const kp::Command& c, kp::Host& host) override {
    const std::string name = c.Name();
    if (name == "notes create") {
      auto change = kp::Change::Create("items").Shared(c.Has("shared"));
      if (c.Has("title")) change.Set("title", c.Get("title"));
      if (c.Has("body")) change.Set("body", c.Get("body"));
      auto id = host.Commit(change);
      if (!id.ok()) return Error(id.error());
      return kp::CommandResult::Ok(*id);
    }
    if (name == "notes update") {
      auto change = kp::Change::Update("items", c.Get("id"));
      if (c.Has("title")) change.Set("title", c.Get("title"));
      if (c.Has("body")) change.Set("body", c.Get("body"));
      if (c.Has("like")) change.Add("likes", *c.Int("like"));
      if (c.Has("tag")) change.Insert("tags", c.Get("tag"));
      if (c.Has("untag")) change.Erase("tags", c.Get("untag"));
      if (c.Has("log")) change.Append("log", c.Get("log"));
      if (c.Has("share")) change.Shared(true);
      if (c.Has("unshare")) change.Shared(false);
      auto id = host.Commit(change);
      if (!id.ok()) return Error(id.error());
      return kp::CommandResult::Ok(*id);
    }
    if (name == "notes get") {
      auto r = host.Get("items", c.Get("id"));
      if (!r.ok()) return Error(r.error());
      json versions = json::array();
      if (auto v = r->versions.find("body"); v != r->versions.end()) versions = v->second;
      return kp::CommandResult::Ok(json{
          {"title", r->Text("title")},
          {"body", r->Text("body")},
          {"body_versions", versions},
          {"likes", r->Int("likes").value_or(-1)},
          {"tags", r->List("tags")},
          {"log", r->List("log")},
          {"shared", r->shared},
          {"author", r->author}}.dump());
    }
    if (name == "notes read") {
      auto records = host.All(c.Get("collection"));
      if (!records.ok()) return Error(records.error());
      json out = json::array();
      for (const auto& r : *records)
        out.push_back({{"id", r.id}, {"text", r.Text("text")}, {"shared", r.shared}});
      return kp::CommandResult::Ok(out.dump());
    }
    if (name == "notes write") {
      auto id =
          host.Commit(kp::Change::Create(c.Get("collection")).Set("text", std::string("sneaky")));
      if (!id.ok()) return Error(id.error());
      return kp::CommandResult::Ok(*id);
    }
    if (name == "notes view") {
      auto rows = host.ReadView(c.Get("view"));
      if (!rows.ok()) return Error(rows.error());
      json out = json::object();
      for (const auto& row : *rows) out[row.key] = row.value;
      return kp::CommandResult::Ok(out.dump());
    }
    if (name == "notes throw") throw std::runtime_error("something inside the plugin went wrong");
    if (name == "notes commit-then-throw") {
      auto id = host.Commit(kp::Change::Create("items").Set("title", c.Get("title")));
      if (!id.ok()) return Error(id.error());
      auto liked = host.Commit(kp::Change::Update("items", *id).Add("likes", 1));
      if (!liked.ok()) return Error(liked.error());
      throw std::runtime_error("changed my mind");
    }
    if (name == "notes report") {
      kp::CommandResult r = kp::CommandResult::Ok("written\n");
      r.files.push_back({c.Has("other") ? "other" : "out", "<html>report</html>"});
      return r;
    }
    return kp::CommandResult::Usage("unknown command " + name);
  }

  kp::ViewUpdate UpdateView(const kp::ViewChanges& changes, kp::Host&) override {
    kp::ViewUpdate u;
    for (const auto& r : changes.records) {
      if (r.deleted) {
        u.Remove(r.id);
      } else if (changes.view == "titles") {
        u.Put(r.id, (kViewVersion == 1 ? "" : "v2:") + r.Text("title"));
      } else {
        u.Put(r.id, r.Text("text"));
      }
    }
    return u;
  }
};

// ---- Raw-ABI plugins -------------------------------------------------------------

void Write(const kindred_sink* sink, const std::string& bytes) {
  if (sink && sink->write)
    sink->write(sink->ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

struct RawInstance {
  const kindred_host_api* host;
};

kindred_plugin_status RawCreate(const kindred_host_api* host, void** instance,
                                const kindred_sink*) {
  *instance = std::make_unique<RawInstance>(RawInstance{host})
                  .release();  // owned by the host until destroy
  return KINDRED_PLUGIN_OK;
}
void RawDestroy(void* instance) {
  std::unique_ptr<RawInstance> owned(static_cast<RawInstance*>(instance));
}

kindred_plugin_status GarbageDescribe(const kindred_sink* out) {
  kp::Manifest m{"org.test.garbage", "0.1.0", "Answers with garbage"};
  m.Collection("junk").Field("text", kp::MergeRule::kLastWriterWins);
  m.View("everything", 1).From("junk");
  m.Command({"garbage"}, "Answer with bytes that are not a message");
  Write(out, kp::wire::Encode(m).bytes());
  return KINDRED_PLUGIN_OK;
}
kindred_plugin_status GarbageRun(void*, const uint8_t*, size_t, const kindred_sink* out) {
  Write(out, std::string("\xff\xff\xff\xff\x0f garbage", 14));
  return KINDRED_PLUGIN_OK;
}
kindred_plugin_status GarbageUpdate(void*, const uint8_t*, size_t, const kindred_sink* out) {
  Write(out, std::string("\x0a\x05\x0a\x01", 4));  // a put row that runs past the end
  return KINDRED_PLUGIN_OK;
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

kindred_plugin_status SpyDescribe(const kindred_sink* out) {
  kp::Manifest m{"org.test.spy", "0.1.0", "Returns every byte it was given"};
  m.Collection("mine").Field("text", kp::MergeRule::kKeepBoth);
  m.Reads("journal", kp::ReadScope::kPrivateToo);
  m.Command({"spy"}, "Read everything it may and return the bytes");
  Write(out, kp::wire::Encode(m).bytes());
  return KINDRED_PLUGIN_OK;
}
kindred_plugin_status SpyRun(void* instance, const uint8_t* in, size_t in_size,
                             const kindred_sink* out) {
  const kindred_host_api* host = static_cast<RawInstance*>(instance)->host;
  std::string seen(reinterpret_cast<const char*>(in), in_size);
  struct Collect {
    std::string bytes;
    static void Write(void* ctx, const uint8_t* d, size_t n) {
      static_cast<Collect*>(ctx)->bytes.append(reinterpret_cast<const char*>(d), n);
    }
  };
  for (const char* collection : {"journal", "mine"}) {
    Collect reply;
    kindred_sink sink{&reply, &Collect::Write};
    const std::string q = kp::wire::Encode(kp::Query{collection, "", "", ""}).bytes();
    host->query(host->ctx, reinterpret_cast<const uint8_t*>(q.data()), q.size(), &sink);
    seen += reply.bytes;
  }
  Write(out, kp::wire::Encode(kp::CommandResult::Ok(Hex(seen))).bytes());
  return KINDRED_PLUGIN_OK;
}
kindred_plugin_status NoViews(void*, const uint8_t*, size_t, const kindred_sink*) {
  return KINDRED_PLUGIN_OK;
}

}  // namespace
}  // namespace kindred::plugin_testing

KINDRED_PLUGIN_ENTRY(kindred::plugin_testing::NotesPlugin<1>, test_notes_plugin_entry)
KINDRED_PLUGIN_ENTRY(kindred::plugin_testing::NotesPlugin<2>, test_notes_v2_plugin_entry)

extern "C" const kindred_plugin_api* test_garbage_plugin_entry(void) {
  using namespace kindred::plugin_testing;
  static const kindred_plugin_api table = {sizeof(kindred_plugin_api),
                                           KINDRED_PLUGIN_ABI_VERSION,
                                           &GarbageDescribe,
                                           &RawCreate,
                                           &RawDestroy,
                                           &GarbageRun,
                                           &GarbageUpdate};
  return &table;
}

extern "C" const kindred_plugin_api* test_spy_plugin_entry(void) {
  using namespace kindred::plugin_testing;
  static const kindred_plugin_api table = {sizeof(kindred_plugin_api),
                                           KINDRED_PLUGIN_ABI_VERSION,
                                           &SpyDescribe,
                                           &RawCreate,
                                           &RawDestroy,
                                           &SpyRun,
                                           &NoViews};
  return &table;
}

extern "C" const kindred_plugin_api* test_future_plugin_entry(void) {
  using namespace kindred::plugin_testing;
  static const kindred_plugin_api table = {
      sizeof(kindred_plugin_api), 2u, &SpyDescribe, &RawCreate, &RawDestroy, &SpyRun, &NoViews};
  return &table;
}
