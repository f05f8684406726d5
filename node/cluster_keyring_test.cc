// The codec of cluster-wide keyring commands and the tally of the answers.

#include "node/cluster_keyring.h"

#include <gtest/gtest.h>

#include "transport/keyring_ops.h"

namespace pekonode::node {
namespace {

TEST(ClusterKeyring, CommandsRoundTripAndOthersAreRefused) {
  transport::keyring_request req;
  std::string why;
  ASSERT_TRUE(decode_keyring_command(encode_keyring_command(keyring_op::list, ""),
                                     req, why)) << why;
  EXPECT_EQ(req.action, static_cast<uint8_t>(transport::keyring_action::list));
  EXPECT_TRUE(req.key.empty());
  for (auto op : {keyring_op::install, keyring_op::use, keyring_op::remove}) {
    ASSERT_TRUE(decode_keyring_command(encode_keyring_command(op, "KEY=="), req,
                                       why)) << why;
    EXPECT_EQ(req.key, "KEY==");
  }
  EXPECT_TRUE(encode_keyring_command(keyring_op::reload, "").empty());
  for (const std::string& bad : std::vector<std::string>{"", "reload", "list\nKEY", "install", "use", "remove",
                          "INSTALL\nk", "list\n", std::string("li\0st", 5)}) {
    why.clear();
    EXPECT_FALSE(decode_keyring_command(bad, req, why)) << bad;
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(why.find('\n'), std::string::npos);
  }
}

TEST(ClusterKeyring, AnswersTallyByFingerprint) {
  transport::keyring_reply a;
  a.keys = {{"00112233445566aa", true}, {"00112233445566bb", false}};
  a.changed = true;
  a.persisted = true;
  transport::keyring_reply b;
  b.keys = {{"00112233445566aa", true}};
  userevents::query_result r;
  r.expected = 4;
  r.acks = {"n1", "n2", "n3", "n4"};
  r.responses = {{"n1", encode_keyring_answer(a)},
                 {"n2", encode_keyring_answer(b)},
                 {"n3", encode_keyring_failure("no such key\ninstalled")}};
  r.stragglers = {"n5"};
  auto v = tally_keyring_query(r);
  EXPECT_EQ(v.expected, 4u);
  EXPECT_EQ(v.responded, 3u);
  ASSERT_EQ(v.keys.size(), 2u);
  EXPECT_EQ(v.keys[0].fingerprint, "00112233445566aa");
  EXPECT_EQ(v.keys[0].nodes, 2u);
  EXPECT_EQ(v.keys[0].primary, 2u);
  EXPECT_EQ(v.keys[1].nodes, 1u);
  EXPECT_EQ(v.keys[1].primary, 0u);
  EXPECT_EQ(v.changed, 1u);
  EXPECT_EQ(v.persisted, 1u);
  EXPECT_EQ(v.errors.at("n3"), "no such key installed");
  // n4 acked without answering, n5 never acked: both missing.
  EXPECT_EQ(v.missing, (std::vector<std::string>{"n4", "n5"}));
  EXPECT_FALSE(v.complete());
  EXPECT_LE(encode_keyring_failure(std::string(5000, 'x')).size(),
            userevents::max_response_bytes);
  transport::keyring_reply full;
  for (size_t i = 0; i < transport::max_keyring_keys; ++i)
    full.keys.push_back({"00112233445566aa", i == 0});
  EXPECT_LE(encode_keyring_answer(full).size(), userevents::max_response_bytes);
}

TEST(ClusterKeyring, MalformedAnswersAreThatNodesError) {
  std::string too_many = "ok 0 0";
  for (size_t i = 0; i <= transport::max_keyring_keys; ++i)
    too_many += "\n00112233445566aa";
  for (const std::string& bad : std::vector<std::string>{"", "ok", "ok 2 0", "ok 0 0\nnot-a-fingerprint",
                          "ok 0 0\n00112233445566AA", "ok 0 0\n\x1b[31m",
                          "ok 0 0 \n00112233445566aa", "yes", too_many}) {
    cluster_keyring_view v;
    tally_keyring_answer("n9", bad, v);
    EXPECT_EQ(v.responded, 1u) << bad;
    EXPECT_EQ(v.errors.count("n9"), 1u) << bad;
    EXPECT_TRUE(v.keys.empty()) << bad;
  }
  cluster_keyring_view v;
  tally_keyring_answer("n9", "error\n\x1b[2Jboom", v);
  EXPECT_EQ(v.errors.at("n9").find('\x1b'), std::string::npos)
    << "wire text is escaped";
}

} // namespace
} // namespace pekonode::node
