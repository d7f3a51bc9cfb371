// The SDK's own protobuf codec (kindred/plugin_wire.h) against the protobuf
// library's generated classes: byte for byte on encoding, field for field on
// decoding, and refusal of bytes that are not a message.
#include <gtest/gtest.h>

#include "kindred/plugin_wire.h"
#include "plugin/v1/plugin.pb.h"

namespace kindred::plugin {
namespace {

namespace kp = ::kindred::plugin;

kp::Record SampleRecord() {
  kp::Record r;
  r.collection = "notes";
  r.id = "abc123";
  r.fields["body"] = std::string("two versions");
  r.fields["count"] = int64_t{-42};
  r.fields["empty"] = std::string("");
  r.fields["flag"] = false;
  r.fields["tags"] = std::vector<std::string>{"a", "", "c"};
  r.versions["body"] = {"one", "two versions"};
  r.author = "Alex";
  r.device = "AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD";
  r.created_micros = 1'780'000'000'000'000;
  r.edited_micros = -5;
  r.shared = true;
  return r;
}

v1::Record SampleProto() {
  v1::Record p;
  p.set_collection("notes");
  p.set_id("abc123");
  auto* f = p.add_fields();
  f->set_name("body");
  f->mutable_value()->set_text("two versions");
  f->add_versions("one");
  f->add_versions("two versions");
  f = p.add_fields();
  f->set_name("count");
  f->mutable_value()->set_integer(-42);
  f = p.add_fields();
  f->set_name("empty");
  f->mutable_value()->set_text("");
  f = p.add_fields();
  f->set_name("flag");
  f->mutable_value()->set_flag(false);
  f = p.add_fields();
  f->set_name("tags");
  auto* list = f->mutable_value()->mutable_list();
  list->add_items("a");
  list->add_items("");
  list->add_items("c");
  p.set_author("Alex");
  p.set_device("AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD");
  p.set_created_micros(1'780'000'000'000'000);
  p.set_edited_micros(-5);
  p.set_shared(true);
  return p;
}

TEST(WireTest, ARecordEncodesByteForByteAsProtobufDoes) {
  EXPECT_EQ(wire::Encode(SampleRecord()).bytes(), SampleProto().SerializeAsString());
}

TEST(WireTest, ARecordProtobufWroteDecodesToTheSameValues) {
  kp::Record r;
  ASSERT_TRUE(wire::DecodeMessage(SampleProto().SerializeAsString(), &r));
  kp::Record want = SampleRecord();
  EXPECT_EQ(r.fields, want.fields);
  EXPECT_EQ(r.versions, want.versions);
  EXPECT_EQ(r.collection, want.collection);
  EXPECT_EQ(r.edited_micros, -5);
  EXPECT_TRUE(r.shared);
}

TEST(WireTest, AManifestEncodesAsProtobufReadsIt) {
  kp::Manifest m{"org.example.hello", "1.2.3", "Hello"};
  m.Collection("greetings")
      .Field("text", kp::MergeRule::kKeepBoth)
      .Field("likes", kp::MergeRule::kCounter);
  m.View("by_day", 7).From("greetings").FromTagged("journal", "tags", "hello");
  m.Command({"hello", "say"}, "Say it")
      .Rest("text", "What")
      .Flag("loud", "Loudly")
      .Option("n", "Times", kp::ValueType::kInteger);
  m.Reads("journal", kp::ReadScope::kPrivateToo);
  v1::Manifest p;
  ASSERT_TRUE(p.ParseFromString(wire::Encode(m).bytes()));
  EXPECT_EQ(p.id(), "org.example.hello");
  ASSERT_EQ(p.collections_size(), 1);
  EXPECT_EQ(p.collections(0).fields(1).rule(), v1::MERGE_RULE_COUNTER);
  EXPECT_EQ(p.views(0).version(), 7u);
  EXPECT_EQ(p.views(0).sources(1).item(), "hello");
  EXPECT_EQ(p.commands(0).path(1), "say");
  EXPECT_EQ(p.commands(0).options(0).kind(), v1::OPTION_KIND_REST);
  EXPECT_TRUE(p.commands(0).options(0).required());
  EXPECT_EQ(p.commands(0).options(2).type(), v1::VALUE_TYPE_INTEGER);
  EXPECT_EQ(p.reads(0).scope(), v1::READ_SCOPE_PRIVATE_TOO);
  EXPECT_EQ(wire::Encode(m).bytes(), p.SerializeAsString());
  kp::Manifest back;
  ASSERT_TRUE(wire::DecodeMessage(p.SerializeAsString(), &back));
  EXPECT_EQ(wire::Encode(back).bytes(), wire::Encode(m).bytes());
}

TEST(WireTest, ACommandAndItsResultCrossBothWays) {
  v1::CommandRequest req;
  req.add_path("gratitude");
  req.add_path("add");
  auto* a = req.add_arguments();
  a->set_name("private");
  a = req.add_arguments();
  a->set_name("text");
  a->add_values("Sam");
  a->add_values("made tea");
  req.set_json(true);
  req.mutable_env()->set_member("Alex");
  req.mutable_env()->set_now_micros(123);
  req.mutable_env()->set_utc_offset_seconds(-3600);
  kp::Command c;
  ASSERT_TRUE(wire::DecodeMessage(req.SerializeAsString(), &c));
  EXPECT_EQ(c.Name(), "gratitude add");
  EXPECT_TRUE(c.Has("private"));
  EXPECT_EQ(c.Get("text"), "Sam made tea");
  EXPECT_TRUE(c.json);
  EXPECT_EQ(c.env.utc_offset_seconds, -3600);
  EXPECT_EQ(wire::Encode(c).bytes(), req.SerializeAsString());

  kp::CommandResult r = kp::CommandResult::Usage("no");
  r.files.push_back({"html", std::string("<p>\0</p>", 8)});
  v1::CommandResponse resp;
  ASSERT_TRUE(resp.ParseFromString(wire::Encode(r).bytes()));
  EXPECT_EQ(resp.exit_code(), 1);
  EXPECT_EQ(resp.err(), "no");
  EXPECT_EQ(resp.files(0).content().size(), 8u);
}

TEST(WireTest, ChangesQueriesAndViewMessagesMatchProtobuf) {
  kp::Change c = kp::Change::Update("notes", "id1")
                     .Shared(false)
                     .Set("title", std::string("t"))
                     .Add("likes", -2)
                     .Insert("tags", "x")
                     .Erase("tags", "y");
  v1::Change p;
  ASSERT_TRUE(p.ParseFromString(wire::Encode(c).bytes()));
  EXPECT_EQ(p.kind(), v1::CHANGE_KIND_UPDATE);
  EXPECT_EQ(p.visibility(), v1::VISIBILITY_PRIVATE);
  EXPECT_EQ(p.writes(1).add(), -2);
  EXPECT_EQ(p.writes(3).remove_items(0), "y");
  EXPECT_EQ(wire::Encode(c).bytes(), p.SerializeAsString());

  kp::ViewChanges v;
  v.view = "weekly";
  v.version = 3;
  v.rebuild = true;
  v.records.push_back(SampleRecord());
  v1::ViewUpdateRequest vp;
  ASSERT_TRUE(vp.ParseFromString(wire::Encode(v).bytes()));
  EXPECT_EQ(vp.records(0).SerializeAsString(), SampleProto().SerializeAsString());
  kp::ViewChanges back;
  ASSERT_TRUE(wire::DecodeMessage(vp.SerializeAsString(), &back));
  EXPECT_EQ(back.records.at(0).fields, SampleRecord().fields);

  kp::ViewUpdate u;
  u.Put("k", std::string("\x00\x01", 2)).Remove("gone");
  v1::ViewUpdateResponse up;
  ASSERT_TRUE(up.ParseFromString(wire::Encode(u).bytes()));
  EXPECT_EQ(up.put(0).value().size(), 2u);
  EXPECT_EQ(up.remove(0), "gone");
}

TEST(WireTest, UnknownFieldsAreSkippedAndBrokenBytesRefused) {
  std::string bytes = SampleProto().SerializeAsString();
  // Field 99 (varint) and field 100 (fixed64) from a later version.
  bytes += std::string("\x98\x06\x07", 3);
  bytes += std::string("\xa1\x06", 2) + std::string(8, '\x01');
  kp::Record r;
  EXPECT_TRUE(wire::DecodeMessage(bytes, &r));
  EXPECT_EQ(r.id, "abc123");

  const std::string good = SampleProto().SerializeAsString();
  for (size_t cut = 1; cut < good.size(); ++cut) {
    kp::Record partial;
    v1::Record proto;
    // Whatever protobuf refuses, the SDK refuses too.
    if (!proto.ParseFromString(good.substr(0, cut))) {
      EXPECT_FALSE(wire::DecodeMessage(good.substr(0, cut), &partial)) << "cut at " << cut;
    }
  }
  kp::Record junk;
  EXPECT_FALSE(
      wire::DecodeMessage(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), &junk));
  EXPECT_FALSE(wire::DecodeMessage(std::string("\x0b", 1), &junk));  // a group
}

}  // namespace
}  // namespace kindred::plugin
