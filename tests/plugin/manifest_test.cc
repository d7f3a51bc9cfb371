// Manifests: what a plugin must say about itself before it is loaded.
#include "engine/plugin/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kindred/plugin_wire.h"

namespace kindred::plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace kp = ::kindred::plugin;

v1::Manifest Proto(const kp::Manifest& m) {
  v1::Manifest p;
  EXPECT_TRUE(p.ParseFromString(wire::Encode(m).bytes()));
  return p;
}

kp::Manifest Good() {
  kp::Manifest m{"org.example.hello", "1.0.0", "Hello"};
  m.Collection("greetings").Field("text", kp::MergeRule::kKeepBoth);
  m.Reads("journal", kp::ReadScope::kSharedOnly);
  m.View("recent", 1).From("greetings").FromTagged("journal", "tags", "hello");
  m.Command({"hello", "say"}, "Say hello").Rest("text", "What");
  return m;
}

Status Check(const kp::Manifest& m) { return ValidateManifest(Proto(m)); }

TEST(ManifestTest, AWellFormedManifestPasses) {
  EXPECT_TRUE(Check(Good()).ok()) << Check(Good()).ToString();
}

TEST(ManifestTest, AnIdThatIsNotReverseDnsIsRefused) {
  for (const char* id :
       {"hello", "Org.Example.Hello", "org..hello", "org.example.", "1org.example"}) {
    kp::Manifest m = Good();
    m.id = id;
    EXPECT_THAT(Check(m).message(), HasSubstr("reverse DNS")) << id;
  }
}

TEST(ManifestTest, AVersionThatIsNotMajorMinorPatchIsRefused) {
  kp::Manifest m = Good();
  m.version = "1.0";
  EXPECT_THAT(Check(m).message(), HasSubstr("MAJOR.MINOR.PATCH"));
}

TEST(ManifestTest, AFieldWithoutAMergeRuleIsRefused) {
  kp::Manifest m = Good();
  m.collections[0].fields.push_back({"mood", static_cast<kp::MergeRule>(0)});
  EXPECT_THAT(Check(m).message(), HasSubstr("greetings.mood has no merge rule"));
}

TEST(ManifestTest, AViewMayOnlyReadWhatThePluginOwnsOrWasGranted) {
  kp::Manifest m = Good();
  m.views[0].From("rituals");
  EXPECT_THAT(Check(m).message(), HasSubstr("reads rituals, which is neither its own nor granted"));
}

TEST(ManifestTest, AGrantMustNameAKnownCollectionAndAScope) {
  kp::Manifest m = Good();
  m.Reads("keys", kp::ReadScope::kPrivateToo);
  EXPECT_THAT(Check(m).message(), HasSubstr("cannot ask to read 'keys'"));
  kp::Manifest n = Good();
  n.Reads("rituals", static_cast<kp::ReadScope>(0));
  EXPECT_THAT(Check(n).message(), HasSubstr("has no scope"));
  kp::Manifest o = Good();
  o.Reads("org.kindred.gratitude/notes", kp::ReadScope::kSharedOnly);
  EXPECT_TRUE(Check(o).ok());
}

TEST(ManifestTest, ACommandMayNotTakeKindredsOwnOptions) {
  kp::Manifest m = Good();
  m.Command({"hello", "list"}, "List").Flag("json", "JSON");
  EXPECT_THAT(Check(m).message(), HasSubstr("--json"));
}

TEST(ManifestTest, PermissionsAreListedInAFixedGrammar) {
  kp::Manifest m = Good();
  m.Reads("rituals", kp::ReadScope::kPrivateToo);
  EXPECT_THAT(Permissions(Proto(m)), ElementsAre("write:org.example.hello/greetings",
                                                 "read:journal:shared", "read:rituals:private"));
}

}  // namespace
}  // namespace kindred::plugin
