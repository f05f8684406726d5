#include "transport/crypto.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "transport/wire.h"

namespace pekonode::transport {
namespace {

keyring ring(std::vector<std::string> secrets) {
  auto r = keyring::from_secrets(secrets);
  EXPECT_TRUE(r.ok()) << r.message;
  return *r;
}

TEST(Keyring, DerivationIsDeterministicAndSecretSpecific) {
  EXPECT_EQ(keyring::derive("s1"), keyring::derive("s1"));
  EXPECT_NE(keyring::derive("s1"), keyring::derive("s2"));
  auto k = keyring::derive("s1");
  EXPECT_NE(std::string(k.begin(), k.end()).find("s1"), 0u);
}

TEST(Keyring, RejectsEmptyListAndEmptySecret) {
  EXPECT_EQ(keyring::from_secrets({}).code, ec::bad_keyring);
  EXPECT_EQ(keyring::from_secrets({"a", ""}).code, ec::bad_keyring);
}

TEST(Framer, EncryptedRoundTripHidesPlaintext) {
  framer f{ring({"secret"}), "prod"};
  std::string env = "hello envelope";
  auto sealed = f.seal(env);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), env.size() + f.overhead());
  EXPECT_EQ(static_cast<uint8_t>((*sealed)[0]), frame_xchacha);
  EXPECT_EQ(sealed->find("hello"), std::string::npos);
  auto opened = f.open(*sealed);
  ASSERT_TRUE(opened.ok()) << opened.message;
  EXPECT_EQ(*opened, env);
  EXPECT_NE(*f.seal(env), *sealed); // fresh random nonce each time
}

TEST(Framer, WrongKeyOrLabelFailsAuthentication) {
  framer a{ring({"secret"}), "prod"};
  framer other_key{ring({"other"}), "prod"};
  framer other_label{ring({"secret"}), "staging"};
  auto sealed = *a.seal("x");
  EXPECT_EQ(other_key.open(sealed).code, ec::auth_failed);
  EXPECT_EQ(other_label.open(sealed).code, ec::auth_failed);
}

TEST(Framer, EveryTamperedByteIsRejected) {
  framer f{ring({"secret"}), "prod"};
  auto sealed = *f.seal("some envelope bytes");
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto bad = sealed;
    bad[i] ^= 0x01;
    auto got = f.open(bad);
    EXPECT_FALSE(got.ok()) << "flip at byte " << i << " accepted";
  }
}

TEST(Framer, TruncatedAndEmptyDatagramsAreRejected) {
  framer f{ring({"secret"}), ""};
  auto sealed = *f.seal("payload");
  EXPECT_EQ(f.open("").code, ec::truncated);
  for (size_t n = 1; n < sealed.size(); ++n)
    EXPECT_FALSE(f.open(sealed.substr(0, n)).ok()) << n;
  EXPECT_EQ(f.open(sealed.substr(0, 10)).code, ec::truncated);
}

TEST(Framer, RotationAcceptsOldKeyAndSendsWithNew) {
  framer old_node{ring({"old"}), "l"};
  framer rotating{ring({"new", "old"}), "l"};
  framer new_only{ring({"new"}), "l"};
  EXPECT_TRUE(rotating.open(*old_node.seal("a")).ok());
  EXPECT_TRUE(new_only.open(*rotating.seal("b")).ok());
  EXPECT_EQ(old_node.open(*rotating.seal("c")).code, ec::auth_failed);
}

TEST(Framer, PlaintextCarriesAndChecksLabel) {
  framer a{keyring{}, "prod"};
  framer b{keyring{}, "prod2"};
  framer none{keyring{}, ""};
  auto sealed = *a.seal("env");
  EXPECT_EQ(sealed, std::string("\x01\x04prodenv", 9));
  EXPECT_EQ(*a.open(sealed), "env");
  EXPECT_EQ(b.open(sealed).code, ec::wrong_label);
  EXPECT_EQ(none.open(sealed).code, ec::wrong_label);
  EXPECT_EQ(a.open(std::string("\x01\x09prod", 6)).code, ec::truncated);
  EXPECT_EQ(a.open(std::string("\x01", 1)).code, ec::truncated);
}

TEST(Framer, EncryptionMismatchAndUnknownFormat) {
  framer enc{ring({"k"}), ""};
  framer plain{keyring{}, ""};
  EXPECT_EQ(enc.open(*plain.seal("x")).code, ec::encryption_mismatch);
  EXPECT_EQ(plain.open(*enc.seal("x")).code, ec::encryption_mismatch);
  EXPECT_EQ(plain.open("\x07garbage").code, ec::bad_version);
}

TEST(KeyringFile, LoadsSecretsSkippingCommentsAndBlanks) {
  auto path = testing::TempDir() + "/keyring_ok";
  {
    std::ofstream out{path};
    out << "# cluster keys\n\n  new-secret  \n# old one\nold-secret\n";
  }
  auto r = load_keyring_file(path);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(r->primary(), keyring::derive("new-secret"));
  EXPECT_EQ(r->keys()[1], keyring::derive("old-secret"));
  std::remove(path.c_str());
}

TEST(KeyringFile, MissingAndEmptyFilesGiveClearErrors) {
  auto missing = load_keyring_file("/nonexistent/keyring");
  EXPECT_EQ(missing.code, ec::bad_keyring);
  EXPECT_NE(missing.message.find("/nonexistent/keyring"), std::string::npos);
  auto path = testing::TempDir() + "/keyring_empty";
  {
    std::ofstream out{path};
    out << "# only a comment\n\n";
  }
  auto empty = load_keyring_file(path);
  EXPECT_EQ(empty.code, ec::bad_keyring);
  EXPECT_NE(empty.message.find("no secrets"), std::string::npos);
  std::remove(path.c_str());
}

TEST(KeyringText, ParsesLinesLikeTheFile) {
  auto r = parse_keyring_text("# keys\r\n\r\n\tprimary \r\nsecond\n#x\nlast");
  ASSERT_TRUE(r.ok()) << r.message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->primary(), keyring::derive("primary"));
  EXPECT_EQ(r->keys()[1], keyring::derive("second"));
  EXPECT_EQ(r->keys()[2], keyring::derive("last")); // no final newline
  // '#' only starts a comment at the beginning of the trimmed line.
  auto inner = parse_keyring_text("a#b\n");
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->primary(), keyring::derive("a#b"));
}

TEST(KeyringText, NoSecretsNamesTheSource) {
  for (std::string_view text : {"", "\n\n", "  # c\n\t\r\n", "#"}) {
    auto r = parse_keyring_text(text, "keyring from --x");
    EXPECT_EQ(r.code, ec::bad_keyring);
    EXPECT_EQ(r.message, "keyring from --x holds no secrets");
  }
}

TEST(KeyringFile, OversizeFileIsRejected) {
  auto path = testing::TempDir() + "/keyring_huge";
  {
    std::ofstream out{path};
    out << "secret\n" << std::string(max_keyring_file_bytes, '#');
  }
  auto r = load_keyring_file(path);
  EXPECT_EQ(r.code, ec::bad_keyring);
  EXPECT_NE(r.message.find("larger than"), std::string::npos) << r.message;
  {
    std::ofstream out{path};
    out << "secret\n#" << std::string(max_keyring_file_bytes - 8, 'x');
  }
  auto at_cap = load_keyring_file(path); // exactly the cap: accepted
  ASSERT_TRUE(at_cap.ok()) << at_cap.message;
  EXPECT_EQ(at_cap->primary(), keyring::derive("secret"));
  std::remove(path.c_str());
}

TEST(Wire, EncryptedBatchesStayWithinBudgetAndRoundTrip) {
  wire_config cfg;
  cfg.name = "a";
  cfg.max_datagram = 500;
  wire w{cfg, framer{ring({"k"}), "l"}};
  outbound_list out;
  for (int i = 0; i < 20; ++i)
    out.push_back({"10.0.0.1:1", channel::metadata, std::string(60, 'm')});
  auto batch = w.prepare(out);
  size_t total = 0;
  for (auto& d : batch.datagrams) {
    EXPECT_LE(d.bytes.size(), 500u);
    auto env = w.receive(d.bytes);
    ASSERT_TRUE(env.ok()) << to_string(env.code);
    EXPECT_EQ(env->sender, "a");
    total += env->messages.size();
  }
  EXPECT_EQ(total, 20u);
}

TEST(Wire, OversizeDatagramIsRejectedBeforeDecryption) {
  wire_config cfg;
  cfg.codec.max_datagram = 100;
  wire w{cfg, framer{}};
  EXPECT_EQ(w.receive(std::string(200, '\x01')).code, ec::too_large);
}

TEST(ReplayFilter, FlagsRepeatsWithinCapacityOnly) {
  replay_filter f{3};
  EXPECT_FALSE(f.seen(1));
  EXPECT_TRUE(f.seen(1));
  EXPECT_FALSE(f.seen(2));
  EXPECT_FALSE(f.seen(3));
  EXPECT_FALSE(f.seen(4)); // evicts 1
  EXPECT_EQ(f.size(), 3u);
  EXPECT_FALSE(f.seen(1));
  EXPECT_TRUE(f.seen(4));
}

} // namespace
} // namespace pekonode::transport
