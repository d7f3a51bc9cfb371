#include "engine/plugin/host.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine/plugin/driver.h"
#include "engine/plugin/manifest.h"
#include "engine/plugin/records.h"
#include "kindred/record_move.h"

namespace kindred::plugin {
namespace {

constexpr size_t kViewBatch = 256;  // records per update_view call
constexpr size_t kMaxViewKeyBytes = 1024;
constexpr size_t kMaxViewValueBytes = 1 << 20;
constexpr size_t kMaxReasonBytes = 300;
// The characters of record ids, as the engine's own (sorted like their values).
constexpr char kIdAlphabet[] = "234567abcdefghijklmnopqrstuvwxyz";

// FNV-1a: a stable digest of what a plugin was shown of a record.
uint64_t Digest(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

std::string Clip(std::string s) {
  if (s.size() > kMaxReasonBytes) {
    s.resize(kMaxReasonBytes);
    s += "...";
  }
  return s;
}

void Reply(const kindred_sink* out, const std::string& bytes) {
  if (out != nullptr && out->write != nullptr) {
    out->write(out->ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
}

kindred_plugin_status Refuse(const kindred_sink* out, kindred_plugin_status code,
                             const std::string& why) {
  Reply(out, why);
  return code;
}

// A collection a plugin may read or write, as the host resolves it.
struct Access {
  std::string engine_name;                    // "journal", "<id>/<name>"
  std::string shown_name;                     // how the plugin names it
  const pv1::CollectionSpec* spec = nullptr;  // the owning plugin's spec; null for Kindred's own
  bool own = false;
  bool plugin_owned = false;  // a plugin's collection (own or another's)
  pv1::ReadScope scope = pv1::READ_SCOPE_PRIVATE_TOO;
};

class HostImpl;

// A record a call into the plugin changed, by (engine collection, id).
using StagedKey = std::pair<std::string, std::string>;

// A change a call into the plugin committed, and the space it goes to.
struct StagedChange {
  SpaceId space;
  Mutation mutation;
};

// A record as a call's changes left it, and the space it lives in.
struct StagedRecord {
  SpaceId space;
  Record record;
};

// One plugin instance, bound to the host.
struct Instance {
  HostImpl* host = nullptr;
  const Module* module = nullptr;
  kindred_host_api api{};
  // The running instance (in process, or a runner process); null until it
  // is started (out-of-process plugins start on their first call) and after
  // its process died. GUARDED_BY(call_mu).
  std::unique_ptr<Driver> driver;
  std::mutex call_mu;     // one call into the plugin at a time
  std::mutex refresh_mu;  // one view refresh at a time
  std::atomic<bool> enabled{false};
  std::atomic<bool> views_stale{true};
  // Set while the host is inside a call into the plugin (under call_mu).
  bool in_call = false;
  // The first rule the plugin broke during the current call (under call_mu).
  std::string violation;
  // The changes the plugin committed during the current call, applied
  // together when it returns well, dropped when it fails (under call_mu);
  // and the records as those changes left them, for its later changes in
  // the same call.
  std::vector<StagedChange> staged;
  std::map<StagedKey, StagedRecord> staged_records;
  std::map<std::string, Access> readable;  // by the plugin's name for it

  const std::string& id() const { return module->manifest.id(); }
};

class HostImpl final : public Host {
 public:
  HostImpl(Engine& engine, const Registry& registry, HostOptions options)
      : engine_(engine), registry_(registry), options_(std::move(options)) {
    if (options_.views == nullptr) {
      owned_views_ = NewMemoryViewStore();
      options_.views = owned_views_.get();
    }
    if (options_.clock == nullptr) options_.clock = &Env::System().clock();
    if (options_.random == nullptr) options_.random = &Env::System().random();
  }

  ~HostImpl() override {
    engine_.RemoveChangeListener(listener_);
    {
      std::lock_guard<std::mutex> lock(worker_mu_);
      stop_ = true;
    }
    worker_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    for (auto& inst : instances_) {
      std::lock_guard<std::mutex> lock(inst->call_mu);
      inst->driver.reset();  // destroy, and out of process, the process ends
    }
  }

  Status Start() {
    auto disabled = ReadDisabledPlugins(options_.state_path);
    if (disabled.ok()) {
      disabled_ = std::move(*disabled);
    } else {
      Log(disabled.status().message() + "; every plugin starts enabled");
    }
    for (const auto& m : registry_.modules()) {
      if (!m->loaded()) continue;
      auto inst = std::make_unique<Instance>();
      inst->host = this;
      inst->module = m.get();
      inst->api.struct_size = sizeof(kindred_host_api);
      inst->api.abi_version = KINDRED_PLUGIN_ABI_VERSION;
      inst->api.ctx = inst.get();
      inst->api.query = &HostImpl::HostCall<&HostImpl::OnQuery>;
      inst->api.commit = &HostImpl::HostCall<&HostImpl::OnCommit>;
      inst->api.read_view = &HostImpl::HostCall<&HostImpl::OnReadView>;
      ResolveAccess(*inst);
      Instance& ref = *inst;
      instances_.push_back(std::move(inst));
      if (disabled_.count(ref.id())) continue;
      ref.enabled = true;
      // A runner process starts on the plugin's first call, so that a
      // command starts only the plugins it uses.
      if (ref.module->out_of_process()) continue;
      std::string failed;
      {
        std::lock_guard<std::mutex> lock(ref.call_mu);
        failed = StartLocked(ref);
      }
      if (!failed.empty()) DisableLocked(ref, failed);
    }
    MoveSharedRecords();
    listener_ = engine_.AddChangeListener([this](const SpaceId&) { MarkStale(); });
    if (options_.live) {
      MarkStale();  // a first refresh in the background, once started
      worker_ = std::thread([this] { Worker(); });
    }
    return Status::Ok();
  }

  std::vector<PluginInfo> Plugins() override {
    std::lock_guard<std::mutex> lock(state_mu_);
    return registry_.Describe(disabled_);
  }

  Result<v1::CommandResponse> RunCommand(const std::string& id,
                                         v1::CommandRequest request) override {
    Instance* inst = Find(id);
    if (inst == nullptr) return Status::NotFound("no plugin " + id);
    if (!inst->enabled) return DisabledStatus(*inst);
    const pv1::CommandSpec* spec = nullptr;
    for (const auto& c : inst->module->manifest.commands()) {
      if (std::equal(c.path().begin(), c.path().end(), request.path().begin(),
                     request.path().end()))
        spec = &c;
    }
    if (spec == nullptr)
      return Status::InvalidArgument("the plugin " + id + " has no such command");
    MoveSharedRecords();
    KINDRED_RETURN_IF_ERROR(Refresh(*inst));

    auto* env = request.mutable_env();
    env->set_member(engine_.device().member_name);
    env->set_device(engine_.device().id.ToString());
    const int64_t now = options_.clock->NowMicros();
    env->set_now_micros(now);
    time_t secs = static_cast<time_t>(now / 1000000);
    struct tm local {};
    localtime_r(&secs, &local);
    env->set_utc_offset_seconds(static_cast<int32_t>(local.tm_gmtoff));

    auto call = Call(*inst, PluginFunction::kRunCommand, request.SerializeAsString());
    if (!call.ok()) return call.status();
    v1::CommandResponse response;
    if (!response.ParseFromString(call->bytes))
      return Broke(*inst, "returned malformed bytes from run_command");
    for (const auto& file : response.files()) {
      bool allowed = false;
      for (const auto& o : spec->options()) {
        if (o.name() == file.option() && o.type() == pv1::VALUE_TYPE_OUTPUT_FILE) allowed = true;
      }
      bool given = false;
      for (const auto& a : request.arguments()) given = given || a.name() == file.option();
      if (!allowed || !given) {
        return Broke(*inst, "returned a file for '" + file.option().substr(0, 64) +
                                "', which is not an output file option given to the command");
      }
    }
    KINDRED_RETURN_IF_ERROR(Apply(*inst, call->staged));
    return response;
  }

  Status CatchUp() override {
    Status first;
    for (auto& inst : instances_) {
      Status s = Refresh(*inst);
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }

  Status Disable(const std::string& id, const std::string& reason) override {
    Instance* inst = Find(id);
    if (inst == nullptr) return Status::NotFound("no plugin " + id);
    std::lock_guard<std::mutex> lock(state_mu_);
    DisableLocked(*inst, reason);
    return Status::Ok();
  }

  Status Enable(const std::string& id) override {
    Instance* inst = Find(id);
    if (inst == nullptr) return Status::NotFound("no plugin " + id);
    std::string failed;
    if (!inst->module->out_of_process()) {  // a runner starts on the first call
      std::lock_guard<std::mutex> call(inst->call_mu);
      if (inst->driver == nullptr) failed = StartLocked(*inst);
    }
    std::lock_guard<std::mutex> lock(state_mu_);
    if (!failed.empty()) {
      DisableLocked(*inst, failed);
      return Status::Internal("the plugin " + id + " " + failed);
    }
    disabled_.erase(id);
    Persist();
    inst->views_stale = true;
    inst->enabled = true;
    return Status::Ok();
  }

  Result<std::vector<std::pair<std::string, std::string>>> ViewRows(
      const std::string& id, const std::string& view) override {
    Instance* inst = Find(id);
    if (inst == nullptr) return Status::NotFound("no plugin " + id);
    for (const auto& v : inst->module->manifest.views()) {
      if (v.name() != view) continue;
      std::vector<std::pair<std::string, std::string>> rows;
      options_.views->With(ViewKey{id, view, v.version()},
                           [&](ViewData& d) { rows.assign(d.rows.begin(), d.rows.end()); });
      return rows;
    }
    return Status::NotFound("the plugin " + id + " has no view " + view);
  }

 private:
  // ---- Calls into the plugin ----------------------------------------------------

  // What a call into a plugin answered, and the changes it committed
  // meanwhile (not yet applied: see Apply).
  struct CallResult {
    std::string bytes;
    std::vector<StagedChange> staged;
  };

  // Starts the plugin's instance: its driver (for a library, a runner
  // process) and create. Returns "" or the host's account of why it failed.
  // REQUIRES: inst.call_mu held.
  std::string StartLocked(Instance& inst) {
    auto driver = registry_.Start(*inst.module);
    if (!driver.ok()) return "failed to start (" + Clip(driver.status().message()) + ")";
    CallOutcome created = (*driver)->Create(&inst.api);
    if (created.crashed()) return created.crash;
    // The plugin's own message is not remembered (see Broke).
    if (created.status != KINDRED_PLUGIN_OK) return "failed to start";
    inst.driver = std::move(*driver);
    return "";
  }

  // Calls the plugin with `request`; returns what it answered and the
  // changes it committed. On a failure, a crash of its process, or a broken
  // rule, drops those changes, disables the plugin and returns Internal
  // naming it.
  Result<CallResult> Call(Instance& inst, PluginFunction function, const std::string& request) {
    const char* what = frames::FunctionName(function);
    CallOutcome outcome;
    CallResult result;
    std::string violation, failed_to_start;
    bool usable;
    {
      std::lock_guard<std::mutex> lock(inst.call_mu);
      usable = inst.enabled;
      if (usable && inst.driver == nullptr) failed_to_start = StartLocked(inst);
      if (usable && failed_to_start.empty()) {
        inst.in_call = true;
        inst.violation.clear();
        inst.staged.clear();
        inst.staged_records.clear();
        outcome = inst.driver->Call(function, request);
        inst.in_call = false;
        violation = std::move(inst.violation);
        result.staged = std::move(inst.staged);
        inst.staged.clear();
        inst.staged_records.clear();
        if (outcome.crashed()) inst.driver.reset();  // its process is gone (and reaped)
      }
    }
    if (!usable) return DisabledStatus(inst);
    if (!failed_to_start.empty()) return Broke(inst, failed_to_start);
    if (outcome.crashed()) return Broke(inst, outcome.crash);
    if (!violation.empty()) return Broke(inst, violation);
    if (outcome.status != KINDRED_PLUGIN_OK) {
      // The plugin's own message is shown, never remembered.
      return Broke(inst, std::string("failed in ") + what,
                   outcome.bytes.empty() ? "" : ": " + Clip(outcome.bytes));
    }
    result.bytes = std::move(outcome.bytes);
    return result;
  }

  // Applies the changes one call committed, as one atomic engine commit per
  // space they touch (the couple's shared space first, where a record that
  // moves is created before it leaves the other: a crash in between leaves
  // a copy in each, which reads show once, never none).
  Status Apply(Instance& inst, const std::vector<StagedChange>& staged) {
    std::vector<std::pair<SpaceId, std::vector<Mutation>>> by_space;
    for (const StagedChange& c : staged) {
      auto it = std::find_if(by_space.begin(), by_space.end(),
                             [&](const auto& e) { return e.first == c.space; });
      if (it == by_space.end()) it = by_space.insert(by_space.end(), {c.space, {}});
      it->second.push_back(c.mutation);
    }
    const SpaceId personal = engine_.device().personal_space;
    std::stable_partition(by_space.begin(), by_space.end(),
                          [&](const auto& e) { return e.first != personal; });
    for (const auto& [space, mutations] : by_space) {
      auto ids = engine_.Commit(space, mutations);
      if (!ids.ok()) {
        return Status(ids.status().code(), "the changes of the plugin " + inst.id() +
                                               " were not stored: " + ids.status().message());
      }
    }
    return Status::Ok();
  }

  // A fresh record id: 80 random bits in the engine's alphabet. Not derived
  // from the op (the engine's way), because the op does not exist until the
  // call returns; random, so that it says nothing about when or where the
  // record was made.
  std::string NewRecordId() {
    uint8_t bits[10];
    options_.random->Fill(bits, sizeof(bits));
    std::string id;
    uint32_t acc = 0;
    int have = 0;
    for (uint8_t b : bits) {
      acc = (acc << 8) | b;
      have += 8;
      while (have >= 5) {
        id += kIdAlphabet[(acc >> (have - 5)) & 31];
        have -= 5;
      }
    }
    return id;
  }

  // Disables the plugin for `why` and returns the error that says so.
  // `why` is the host's account (remembered in the state file); `detail`,
  // what the plugin said, only goes into the returned message.
  Status Broke(Instance& inst, const std::string& why, const std::string& detail = "") {
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      DisableLocked(inst, why);
    }
    return Status::Internal(
        "the plugin " + inst.id() + " " + why + detail +
        "; Kindred refused it and disabled the plugin (`kindred plugins enable " + inst.id() +
        "` turns it back on)");
  }

  Status DisabledStatus(Instance& inst) {
    std::lock_guard<std::mutex> lock(state_mu_);
    auto it = disabled_.find(inst.id());
    std::string why = it == disabled_.end() ? "" : " (" + it->second + ")";
    return Status::FailedPrecondition("the plugin " + inst.id() + " is disabled" + why +
                                      "; `kindred plugins enable " + inst.id() +
                                      "` turns it back on");
  }

  // REQUIRES: state_mu_ held (or the host not yet shared).
  void DisableLocked(Instance& inst, const std::string& reason) {
    inst.enabled = false;
    if (disabled_[inst.id()] == reason) return;
    disabled_[inst.id()] = reason;
    Persist();
    Log("disabled the plugin " + inst.id() + ": " + reason);
  }

  void Persist() {
    if (options_.state_path.empty()) return;
    Status s = WriteDisabledPlugins(options_.state_path, disabled_);
    if (!s.ok()) Log("could not remember the plugins' state: " + s.message());
  }

  void Log(const std::string& line) {
    if (options_.log) options_.log(line);
  }

  Instance* Find(const std::string& id) {
    for (auto& inst : instances_) {
      if (inst->id() == id) return inst.get();
    }
    return nullptr;
  }

  // ---- What a plugin may read ---------------------------------------------------------

  void ResolveAccess(Instance& inst) {
    const pv1::Manifest& m = inst.module->manifest;
    for (const auto& c : m.collections()) {
      Access a;
      a.engine_name = EngineCollection(m.id(), c.name());
      a.shown_name = c.name();
      a.spec = &c;
      a.own = true;
      a.plugin_owned = true;
      inst.readable[c.name()] = a;
    }
    for (const auto& g : m.reads()) {
      Access a;
      a.engine_name = g.collection();
      a.shown_name = g.collection();
      a.scope = g.scope();
      // Another plugin's collection is read with that plugin's merge rules.
      size_t slash = g.collection().find('/');
      if (slash != std::string::npos) {
        a.engine_name =
            EngineCollection(g.collection().substr(0, slash), g.collection().substr(slash + 1));
        a.plugin_owned = true;
        if (const Module* owner = registry_.Find(g.collection().substr(0, slash))) {
          for (const auto& c : owner->manifest.collections()) {
            if (c.name() == g.collection().substr(slash + 1)) a.spec = &c;
          }
        }
      }
      inst.readable[g.collection()] = a;
    }
  }

  // Where records are read from, in order: the couple's shared spaces (the
  // lasting one first, then those whose partnership ended), then this
  // member's personal space. A record found in two (mid-move) shows once,
  // from the first.
  std::vector<SpaceId> ReadSpaces() const {
    std::vector<SpaceId> out = engine_.SharedSpaces();
    out.push_back(engine_.device().personal_space);
    return out;
  }

  // Once the couple has a shared space: moves the shared records of every
  // plugin's collections that still live in the personal space (written
  // before pairing, or on a device that had not heard of it yet) into it,
  // each with its id and fields, created there first and then deleted from
  // the personal space. Runs when the host starts and before a command
  // after the shared space changed; a failure is logged and retried then.
  void MoveSharedRecords() {
    auto shared = engine_.SharedSpace();
    if (!shared || engine_.SpaceEnded(*shared)) return;
    std::lock_guard<std::mutex> lock(move_mu_);
    if (moved_into_ == *shared) return;
    const SpaceId personal = engine_.device().personal_space;
    RecordMove move(engine_, personal, *shared);
    Status s;
    for (const auto& m : registry_.modules()) {
      if (!m->loaded()) continue;
      for (const auto& c : m->manifest.collections()) {
        std::vector<Record> moving;
        s = engine_.Scan(personal, EngineCollection(m->manifest.id(), c.name()),
                         [&](const Record& r) {
                           if (PluginRecordIsShared(r)) moving.push_back(r);
                           return true;
                         });
        for (size_t i = 0; s.ok() && i < moving.size(); ++i) s = move.Add(std::move(moving[i]));
        if (!s.ok()) break;
      }
      if (!s.ok()) break;
    }
    auto moved = s.ok() ? move.Commit() : Result<size_t>(s);
    if (!moved.ok()) {
      Log("could not move the plugins' shared records into the shared space yet: " +
          moved.status().message());
      return;
    }
    if (*moved > 0) {
      Log("moved " + std::to_string(*moved) +
          " shared plugin record(s) into the couple's shared space");
    }
    moved_into_ = *shared;
  }

  // Where a record of this visibility belongs: a shared one in the
  // couple's shared space while the partnership lasts, everything else
  // (and shared records before pairing, flagged) in the personal space.
  SpaceId HomeFor(bool shared) const {
    if (shared) {
      auto space = engine_.SharedSpace();
      if (space && !engine_.SpaceEnded(*space)) return *space;
    }
    return engine_.device().personal_space;
  }

  // The record `id` of `engine_name` and the space it lives in, from the
  // first space of ReadSpaces that holds it. NotFound if none does.
  Result<StagedRecord> FindRecord(const std::string& engine_name, const std::string& id) {
    for (const SpaceId& space : ReadSpaces()) {
      auto r = engine_.Get(space, engine_name, id);
      if (r.ok()) return StagedRecord{space, std::move(*r)};
      if (r.status().code() != StatusCode::kNotFound) return r.status();
    }
    return Status::NotFound("no record " + id);
  }

  // Decides visibility under a shared-only grant, caching what it looks up.
  class Visibility {
   public:
    explicit Visibility(HostImpl& host) : host_(host) {}
    bool Allows(const Access& a, const Record& r) {
      if (a.own || a.scope == pv1::READ_SCOPE_PRIVATE_TOO) return true;
      if (a.engine_name == "ritual_facts") {
        // A fact is as shared as its ritual.
        const std::string ritual = r.Text("ritual");
        auto it = rituals_.find(ritual);
        if (it == rituals_.end()) {
          auto rec = host_.FindRecord("rituals", ritual);
          it = rituals_.emplace(ritual, rec.ok() && rec->record.Flag("shared")).first;
        }
        return it->second;
      }
      if (a.plugin_owned) return PluginRecordIsShared(r);
      return r.Flag("shared");
    }

   private:
    HostImpl& host_;
    std::map<std::string, bool> rituals_;
  };

  std::string Author(const DeviceId& device, std::map<DeviceId, std::string>* cache) {
    auto it = cache->find(device);
    if (it == cache->end()) it = cache->emplace(device, engine_.MemberName(device)).first;
    return it->second;
  }

  // Visits the records of `a` the plugin may see (optionally only those whose
  // list field holds an item), as the plugin sees them.
  Status Visit(const Access& a, const std::string& list_field, const std::string& item,
               const std::function<bool(const Record&, pv1::Record&&)>& fn) {
    Visibility visibility(*this);
    std::map<DeviceId, std::string> authors;
    std::set<std::string> seen;  // a record mid-move is in two spaces
    bool stopped = false;
    auto visit = [&](const Record& r) {
      if (!seen.insert(r.id).second) return true;
      if (!visibility.Allows(a, r)) return true;
      stopped = !fn(r, ToPluginRecord(r, a.spec, a.shown_name, Author(r.created_by, &authors)));
      return !stopped;
    };
    for (const SpaceId& space : ReadSpaces()) {
      Status s = list_field.empty()
                     ? engine_.Scan(space, a.engine_name, visit)
                     : engine_.ScanByListItem(space, a.engine_name, list_field, item, visit);
      if (!s.ok()) return s;
      if (stopped) break;
    }
    return Status::Ok();
  }

  // ---- Calls from the plugin (kindred_host_api) -------------------------------------------

  static Instance* Caller(void* ctx) { return static_cast<Instance*>(ctx); }

  // Records a broken rule: the call fails, and the plugin is disabled when
  // the host's call into it returns.
  static kindred_plugin_status Violation(Instance& inst, const kindred_sink* out,
                                         const std::string& why) {
    if (inst.violation.empty()) inst.violation = why;
    return Refuse(out, KINDRED_PLUGIN_PERMISSION_DENIED, why);
  }

  // The host functions a plugin calls (kindred_host_api): each checks that
  // the plugin is inside a call into it and keeps exceptions on this side,
  // then runs `Handler` (OnQuery, OnCommit or OnReadView).
  using Handler = kindred_plugin_status (HostImpl::*)(Instance&, const uint8_t*, size_t,
                                                      const kindred_sink*);
  template <Handler handler>
  static kindred_plugin_status HostCall(void* ctx, const uint8_t* in, size_t size,
                                        const kindred_sink* out) {
    Instance& inst = *Caller(ctx);
    if (!inst.in_call)
      return Refuse(out, KINDRED_PLUGIN_FAILED,
                    "the host may only be called during a call into the plugin");
    try {
      return (inst.host->*handler)(inst, in, size, out);
    } catch (const std::exception& e) {
      return Refuse(out, KINDRED_PLUGIN_INTERNAL, std::string("the host failed: ") + e.what());
    }
  }

  kindred_plugin_status OnQuery(Instance& inst, const uint8_t* in, size_t size,
                                const kindred_sink* out) {
    pv1::QueryRequest q;
    if (!q.ParseFromArray(in, static_cast<int>(size)))
      return Violation(inst, out, "sent malformed bytes to query");
    auto it = inst.readable.find(q.collection());
    if (it == inst.readable.end()) {
      return Violation(
          inst, out,
          "asked to read " + q.collection().substr(0, 200) + ", which its manifest does not grant");
    }
    const Access& a = it->second;
    pv1::QueryResponse response;
    if (!q.id().empty()) {
      auto found = FindRecord(a.engine_name, q.id());
      if (found.ok()) {
        const Record& r = found->record;
        Visibility visibility(*this);
        if (visibility.Allows(a, r)) {
          *response.add_records() =
              ToPluginRecord(r, a.spec, a.shown_name, engine_.MemberName(r.created_by));
        }
      } else if (found.status().code() != StatusCode::kNotFound) {
        return Refuse(out, KINDRED_PLUGIN_FAILED, found.status().message());
      }
    } else {
      if (q.list_field().empty() != q.item().empty()) {
        return Refuse(out, KINDRED_PLUGIN_INVALID_ARGUMENT,
                      "a query needs both list_field and item, or neither");
      }
      Status s = Visit(a, q.list_field(), q.item(), [&](const Record&, pv1::Record&& r) {
        *response.add_records() = std::move(r);
        return true;
      });
      if (!s.ok()) return Refuse(out, KINDRED_PLUGIN_FAILED, s.message());
    }
    Reply(out, response.SerializeAsString());
    return KINDRED_PLUGIN_OK;
  }

  // A record as the current call's changes left it, or as stored, and its
  // space. NotFound when there is none (or it was deleted).
  Result<StagedRecord> Current(Instance& inst, const std::map<StagedKey, StagedRecord>& pending,
                               const std::string& engine_name, const std::string& id) {
    const StagedKey key{engine_name, id};
    const StagedRecord* staged = nullptr;
    if (auto it = pending.find(key); it != pending.end()) {
      staged = &it->second;
    } else if (auto st = inst.staged_records.find(key); st != inst.staged_records.end()) {
      staged = &st->second;
    }
    if (staged == nullptr) return FindRecord(engine_name, id);
    if (staged->record.deleted) return Status::NotFound("deleted");
    return *staged;
  }

  // Stages the changes: they are checked now (a change the manifest does
  // not allow is refused, and nothing of the request is staged), answered
  // with their ids, and applied when the call into the plugin returns well
  // (see Call and Apply), all of the call's commits in one engine commit.
  kindred_plugin_status OnCommit(Instance& inst, const uint8_t* in, size_t size,
                                 const kindred_sink* out) {
    pv1::CommitRequest request;
    if (!request.ParseFromArray(in, static_cast<int>(size)))
      return Violation(inst, out, "sent malformed bytes to commit");
    std::vector<StagedChange> changes;
    std::map<StagedKey, StagedRecord> pending;  // this request's records, staged if it all passes
    pv1::CommitResponse response;
    const int64_t now = options_.clock->NowMicros();
    for (const auto& change : request.changes()) {
      auto it = inst.readable.find(change.collection());
      if (it == inst.readable.end() || !it->second.own) {
        return Violation(inst, out,
                         "tried to write to " + change.collection().substr(0, 200) +
                             ", a collection it does not own");
      }
      const Access& a = it->second;
      std::optional<StagedRecord> current;
      const bool existing =
          change.kind() == pv1::CHANGE_KIND_UPDATE || change.kind() == pv1::CHANGE_KIND_DELETE;
      if (existing && !change.id().empty()) {  // without an id, ToMutation refuses it
        auto r = Current(inst, pending, a.engine_name, change.id());
        if (!r.ok()) {
          return Refuse(out,
                        r.status().code() == StatusCode::kNotFound ? KINDRED_PLUGIN_NOT_FOUND
                                                                   : KINDRED_PLUGIN_FAILED,
                        "no " + a.shown_name + " record " + change.id().substr(0, 64));
        }
        current = std::move(*r);
      }
      auto m = ToMutation(change, a.engine_name, *a.spec, engine_.device().id, now,
                          current ? &current->record : nullptr);
      if (!m.ok())
        return Violation(inst, out,
                         "asked for a change the manifest does not allow: " + m.status().message());
      Record after;
      SpaceId from;  // where the record lives now (none for a new one)
      if (current) {
        after = std::move(current->record);
        from = current->space;
      } else {
        m->id = NewRecordId();
        after.collection = a.engine_name;
        after.id = m->id;
        after.created_by = engine_.device().id;
        after.created_micros = after.edited_micros = now;
      }
      if (m->kind == Mutation::Kind::kDelete) after.deleted = true;
      for (const auto& [name, value] : m->fields) {
        after.fields[name] = value;
        after.conflicts.erase(name);
      }
      // A record goes where its visibility says (HomeFor). One whose
      // visibility changed, in a space whose partnership lasts, moves: it is
      // created whole in its new space, with its id, and deleted from the
      // old. A record in a space that ended stays, and the engine refuses
      // the change (read-only).
      SpaceId to = current ? from : HomeFor(PluginRecordIsShared(after));
      if (current && m->kind != Mutation::Kind::kDelete && !engine_.SpaceEnded(from)) {
        to = HomeFor(PluginRecordIsShared(after));
      }
      const std::string id = m->id;
      if (to == from || !current) {
        changes.push_back(StagedChange{to, std::move(*m)});
      } else {
        // A record that left `to` before (shared, then private, then
        // shared again) comes back under its id: the create revives it.
        Mutation moved = Mutation::Create(a.engine_name, after.fields);
        moved.id = id;
        changes.push_back(StagedChange{to, std::move(moved)});
        changes.push_back(StagedChange{from, Mutation::Delete(a.engine_name, id)});
      }
      pending[StagedKey{a.engine_name, id}] = StagedRecord{to, std::move(after)};
      response.add_ids(id);
    }
    for (auto& [key, record] : pending) inst.staged_records[key] = std::move(record);
    for (auto& c : changes) inst.staged.push_back(std::move(c));
    Reply(out, response.SerializeAsString());
    return KINDRED_PLUGIN_OK;
  }

  kindred_plugin_status OnReadView(Instance& inst, const uint8_t* in, size_t size,
                                   const kindred_sink* out) {
    pv1::ReadViewRequest request;
    if (!request.ParseFromArray(in, static_cast<int>(size)))
      return Violation(inst, out, "sent malformed bytes to read_view");
    const pv1::ViewSpec* spec = nullptr;
    for (const auto& v : inst.module->manifest.views()) {
      if (v.name() == request.view()) spec = &v;
    }
    if (spec == nullptr) {
      return Violation(
          inst, out,
          "asked to read the view " + request.view().substr(0, 64) + ", which it does not declare");
    }
    pv1::ReadViewResponse response;
    options_.views->With(ViewKey{inst.id(), spec->name(), spec->version()}, [&](ViewData& d) {
      for (auto it = d.rows.lower_bound(request.prefix());
           it != d.rows.end() &&
           it->first.compare(0, request.prefix().size(), request.prefix()) == 0;
           ++it) {
        auto* row = response.add_rows();
        row->set_key(it->first);
        row->set_value(it->second);
      }
    });
    Reply(out, response.SerializeAsString());
    return KINDRED_PLUGIN_OK;
  }

  // ---- Views -----------------------------------------------------------------------------

  void MarkStale() {
    for (auto& inst : instances_) inst->views_stale = true;
    if (!options_.live) return;
    std::lock_guard<std::mutex> lock(worker_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!dirty_) first_change_ = now;
    dirty_ = true;
    last_change_ = now;
    worker_cv_.notify_one();
  }

  void Worker() {
    std::unique_lock<std::mutex> lock(worker_mu_);
    while (!stop_) {
      worker_cv_.wait(lock, [&] { return stop_ || dirty_; });
      while (!stop_) {
        const auto deadline =
            std::min(last_change_ + options_.settle, first_change_ + options_.max_delay);
        if (std::chrono::steady_clock::now() >= deadline) break;
        worker_cv_.wait_until(lock, deadline);
      }
      if (stop_) break;
      dirty_ = false;
      lock.unlock();
      CatchUp().IgnoreError();  // a failing plugin is disabled and logged
      lock.lock();
    }
  }

  // Brings the plugin's views current if anything changed since they were.
  Status Refresh(Instance& inst) {
    if (!inst.enabled || inst.module->manifest.views().empty()) return Status::Ok();
    std::lock_guard<std::mutex> lock(inst.refresh_mu);
    if (!inst.views_stale.exchange(false)) return Status::Ok();
    for (const auto& view : inst.module->manifest.views()) {
      Status s = RefreshView(inst, view);
      if (!s.ok()) {
        inst.views_stale = true;
        return s;
      }
    }
    return Status::Ok();
  }

  Status RefreshView(Instance& inst, const pv1::ViewSpec& view) {
    const ViewKey key{inst.id(), view.name(), view.version()};
    if (options_.views->DropOtherVersions(key) > 0) {
      Log("the plugin " + inst.id() + " changed the view " + view.name() + " to version " +
          std::to_string(view.version()) + "; rebuilding it");
    }
    bool rebuild = false;
    std::map<std::string, uint64_t> seen;
    options_.views->With(key, [&](ViewData& d) {
      rebuild = !d.built;
      if (rebuild) {
        d.rows.clear();
        d.seen.clear();
      }
      seen = d.seen;
    });

    std::vector<pv1::Record> batch;
    std::vector<std::pair<std::string, uint64_t>> digests;  // 0: forget
    bool first = true;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      pv1::ViewUpdateRequest request;
      request.set_view(view.name());
      request.set_version(view.version());
      request.set_rebuild(first && rebuild);
      for (auto& r : batch) *request.add_records() = std::move(r);
      first = false;
      auto call = Call(inst, PluginFunction::kUpdateView, request.SerializeAsString());
      if (!call.ok()) return call.status();
      pv1::ViewUpdateResponse response;
      if (!response.ParseFromString(call->bytes))
        return Broke(inst, "returned malformed bytes from update_view");
      for (const auto& row : response.put()) {
        if (row.key().empty() || row.key().size() > kMaxViewKeyBytes ||
            row.value().size() > kMaxViewValueBytes) {
          return Broke(inst, "returned a view row with an empty or oversized key or value");
        }
      }
      KINDRED_RETURN_IF_ERROR(Apply(inst, call->staged));
      options_.views->With(key, [&](ViewData& d) {
        for (const auto& k : response.remove()) d.rows.erase(k);
        for (const auto& row : response.put()) d.rows[row.key()] = row.value();
        for (const auto& [k, digest] : digests) {
          if (digest == 0)
            d.seen.erase(k);
          else
            d.seen[k] = digest;
        }
      });
      batch.clear();
      digests.clear();
      return Status::Ok();
    };

    std::set<std::string> present;
    for (const auto& source : view.sources()) {
      auto it = inst.readable.find(source.collection());
      if (it == inst.readable.end()) continue;  // checked by ValidateManifest
      const Access& a = it->second;
      Status inner;
      Status s =
          Visit(a, source.list_field(), source.item(), [&](const Record& r, pv1::Record&& pr) {
            std::string k = a.engine_name + "\n" + r.id;
            if (present.count(k)) return true;  // two sources with the same record
            const uint64_t digest = Digest(pr.SerializeAsString());
            auto old = seen.find(k);
            present.insert(k);
            if (old != seen.end() && old->second == digest) return true;
            batch.push_back(std::move(pr));
            digests.emplace_back(std::move(k), digest);
            if (batch.size() >= kViewBatch) {
              inner = flush();
              return inner.ok();
            }
            return true;
          });
      KINDRED_RETURN_IF_ERROR(inner);
      KINDRED_RETURN_IF_ERROR(s);
    }
    // Records that left the sources (deleted, no longer shared, untagged).
    for (const auto& [k, digest] : seen) {
      if (present.count(k)) continue;
      const size_t nl = k.find('\n');
      const std::string engine_name = k.substr(0, nl);
      pv1::Record gone;
      for (const auto& [shown, a] : inst.readable) {
        if (a.engine_name == engine_name) gone.set_collection(shown);
      }
      gone.set_id(k.substr(nl + 1));
      gone.set_deleted(true);
      batch.push_back(std::move(gone));
      digests.emplace_back(k, 0);
      if (batch.size() >= kViewBatch) KINDRED_RETURN_IF_ERROR(flush());
    }
    KINDRED_RETURN_IF_ERROR(flush());
    options_.views->With(key, [&](ViewData& d) { d.built = true; });
    return Status::Ok();
  }

  Engine& engine_;
  const Registry& registry_;
  HostOptions options_;
  std::unique_ptr<ViewStore> owned_views_;
  std::vector<std::unique_ptr<Instance>> instances_;  // fixed after Start
  uint64_t listener_ = 0;

  std::mutex state_mu_;
  DisabledPlugins disabled_;  // GUARDED_BY(state_mu_)

  std::mutex move_mu_;
  SpaceId moved_into_;  // the shared space MoveSharedRecords last emptied into (GUARDED_BY(move_mu_))

  std::mutex worker_mu_;
  std::condition_variable worker_cv_;
  bool stop_ = false;                                                 // GUARDED_BY(worker_mu_)
  bool dirty_ = false;                                                // GUARDED_BY(worker_mu_)
  std::chrono::steady_clock::time_point first_change_, last_change_;  // GUARDED_BY(worker_mu_)
  std::thread worker_;
};

}  // namespace

Result<std::unique_ptr<Host>> Host::Create(Engine& engine, const Registry& registry,
                                           HostOptions options) {
  auto host = std::make_unique<HostImpl>(engine, registry, std::move(options));
  KINDRED_RETURN_IF_ERROR(host->Start());
  return std::unique_ptr<Host>(std::move(host));
}

}  // namespace kindred::plugin
