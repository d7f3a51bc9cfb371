// kindred-local-sync: links and syncs two device homes on the same machine
// through the engine's public API, with no network in between.
//
//   kindred-local-sync link OWNER_HOME NEW_HOME   # NEW joins OWNER's personal space
//   kindred-local-sync sync HOME_A HOME_B         # both directions, every shared space
//
// An example of embedding Kindred, and the demo's way to show two devices
// before network sync and pairing exist. Both homes must be readable by the
// same person: linking trusts the two homes it is given, which is what
// pairing (with its short code) will establish between separate machines.
#include <cstdlib>
#include <iostream>
#include <set>

#include "kindred/engine.h"

namespace {

kindred::Result<std::unique_ptr<kindred::Engine>> OpenHome(const std::string& home) {
  kindred::EngineOptions options;
  options.home = home;
  if (const char* p = std::getenv("KINDRED_PASSPHRASE")) options.passphrase = p;
  return kindred::Engine::Open(options);
}

int Fail(const std::string& what, const kindred::Status& s) {
  std::cerr << "kindred-local-sync: " << what << ": " << s.message() << "\n";
  return s.code() == kindred::StatusCode::kInvalidArgument ? 1 : 2;
}

// Moves what `to` lacks from `from`. Returns ops moved, or an error.
kindred::Result<uint64_t> Push(kindred::Engine& from, kindred::Engine& to,
                               const kindred::SpaceId& space) {
  auto theirs = to.Versions(space);
  if (!theirs.ok()) return theirs.status();
  uint64_t moved = 0;
  kindred::Status inner;
  kindred::Status s = from.ReadMissing(space, *theirs, 1000, [&](kindred::OpBatch&& batch) {
    auto n = to.Ingest(batch);
    if (!n.ok()) {
      inner = n.status();
      return false;
    }
    moved += *n;
    return true;
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  return moved;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || (std::string(argv[1]) != "link" && std::string(argv[1]) != "sync")) {
    std::cerr << "usage: kindred-local-sync link OWNER_HOME NEW_HOME\n"
                 "       kindred-local-sync sync HOME_A HOME_B\n";
    return 1;
  }
  const std::string command = argv[1];
  auto a = OpenHome(argv[2]);
  if (!a.ok()) return Fail(argv[2], a.status());
  auto b = OpenHome(argv[3]);
  if (!b.ok()) return Fail(argv[3], b.status());

  if (command == "link") {
    const kindred::SpaceId space = (*a)->device().personal_space;
    auto grant = (*a)->GrantSpace(space, (*b)->card());
    if (!grant.ok()) return Fail("granting the space", grant.status());
    auto joined = (*b)->AcceptSpace(*grant, (*a)->card(), /*as_personal=*/true);
    if (!joined.ok()) return Fail("joining the space", joined.status());
    std::cout << "Linked " << (*b)->device().id.ToString() << " into "
              << (*a)->device().member_name << "'s personal space.\n";
  }

  // Sync every space both homes belong to.
  auto spaces_a = (*a)->Spaces();
  auto spaces_b = (*b)->Spaces();
  if (!spaces_a.ok()) return Fail(argv[2], spaces_a.status());
  if (!spaces_b.ok()) return Fail(argv[3], spaces_b.status());
  std::set<kindred::SpaceId> in_b;
  for (const auto& s : *spaces_b) in_b.insert(s.id);
  uint64_t sent = 0, received = 0;
  for (const auto& s : *spaces_a) {
    if (!in_b.count(s.id)) continue;
    auto out = Push(**a, **b, s.id);
    if (!out.ok()) return Fail("syncing", out.status());
    auto in = Push(**b, **a, s.id);
    if (!in.ok()) return Fail("syncing", in.status());
    sent += *out;
    received += *in;
  }
  std::cout << "Synced: " << sent << " ops to " << argv[3] << ", " << received << " ops to "
            << argv[2] << ".\n";
  return 0;
}
