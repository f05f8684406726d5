#include "transport/crypto.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cctype>
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
  // overhead() is the most a frame adds (its header names no destination
  // here).
  EXPECT_EQ(sealed->size(), env.size() + f.overhead() - max_frame_destination);
  EXPECT_EQ(static_cast<uint8_t>((*sealed)[0]), frame_sealed);
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

// Bytes 0..31 as base64 (with and without padding) and as hex.
constexpr std::string_view k_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::string_view k_b64_nopad =
  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
constexpr std::string_view k_hex =
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
// Another valid key, for rotations.
constexpr std::string_view k2_b64 = "gIGCg4SFhoeIiYqLjI2Oj4CBgoOEhYaHiImKi4yNjo8=";

keyring::key counting_key() {
  keyring::key k{};
  for (size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<uint8_t>(i);
  return k;
}

keyring::key derived(const keyring::key& raw) {
  return keyring::derive(
    std::string_view{reinterpret_cast<const char*>(raw.data()), raw.size()});
}

void write_file(const std::string& path, std::string_view text, mode_t mode) {
  {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << text;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(DecodeKey, AcceptsBase64WithAndWithoutPaddingAndHex) {
  std::string upper_hex{k_hex};
  for (auto& c : upper_hex)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view text : {k_b64, k_b64_nopad, k_hex,
                                std::string_view{upper_hex}}) {
    auto k = decode_key(text);
    ASSERT_TRUE(k.ok()) << text << ": " << k.message;
    EXPECT_EQ(*k, counting_key()) << text;
  }
}

TEST(DecodeKey, RefusesWrongLengthsNamingTheCount) {
  for (std::string_view text :
       {k_b64.substr(0, 42), std::string_view{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=="},
        k_hex.substr(0, 63), std::string_view{"00" "0102030405060708090a0b0c0d0e0f"
                                              "101112131415161718191a1b1c1d1e1f0"},
        std::string_view{"correct horse battery staple"}, std::string_view{"x"}}) {
    auto k = decode_key(text);
    EXPECT_EQ(k.code, ec::bad_keyring) << text;
    EXPECT_EQ(k.message.rfind(std::to_string(text.size()) + " characters;", 0),
              0u)
      << k.message;
  }
}

TEST(DecodeKey, RefusesBadCharactersByPosition) {
  std::string url_safe{k_b64};
  url_safe[4] = '-'; // base64url is not accepted
  auto k = decode_key(url_safe);
  EXPECT_EQ(k.code, ec::bad_keyring);
  EXPECT_EQ(k.message, "character 5 of 44 is not standard base64 (A-Z a-z 0-9 + /)");
  std::string bad_hex{k_hex};
  bad_hex[63] = 'g';
  EXPECT_EQ(decode_key(bad_hex).message, "character 64 of 64 is not a hex digit");
  std::string no_pad{k_b64};
  no_pad[43] = 'A';
  EXPECT_NE(decode_key(no_pad).message.find("padding"), std::string::npos);
  std::string early_pad{k_b64_nopad};
  early_pad[10] = '=';
  EXPECT_EQ(decode_key(early_pad).message.find("character 11 of 43"), 0u);
  // The last character of 43 carries 2 bits beyond the key: they must be 0.
  std::string stray{k_b64_nopad};
  stray[42] = '9';
  EXPECT_NE(decode_key(stray).message.find("not canonical"), std::string::npos);
  std::string stray_padded{k_b64};
  stray_padded[42] = '9';
  EXPECT_EQ(decode_key(stray_padded).code, ec::bad_keyring);
}

TEST(DecodeKey, RefusesWeakKeysNamingTheRule) {
  // 'password' x4: only 7 distinct byte values.
  auto repeated = decode_key("cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=");
  EXPECT_EQ(repeated.code, ec::bad_keyring);
  EXPECT_NE(repeated.message.find("only 7 distinct values"), std::string::npos)
    << repeated.message;
  auto zeros = decode_key(std::string(64, '0'));
  EXPECT_NE(zeros.message.find("only 1 distinct"), std::string::npos);
  // 15 distinct values is refused, 16 is the least accepted.
  auto fifteen = decode_key("gIGCg4SFhoeIiYqLjI2OgIGCg4SFhoeIiYqLjI2OgIE=");
  EXPECT_NE(fifteen.message.find("only 15 distinct"), std::string::npos)
    << fifteen.message;
  EXPECT_TRUE(decode_key(k2_b64).ok());
  // "ABC...`": 32 distinct bytes, but all printable ASCII.
  auto text = decode_key("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2A=");
  EXPECT_EQ(text.code, ec::bad_keyring);
  EXPECT_NE(text.message.find("every byte is printable ASCII"),
            std::string::npos)
    << text.message;
}

TEST(DecodeKey, KeygenOutputIsAcceptedAndFresh) {
  auto a = random_key(), b = random_key();
  EXPECT_NE(a, b);
  auto text = key_to_base64(a);
  EXPECT_EQ(text.size(), 44u);
  EXPECT_EQ(text.back(), '=');
  auto back = decode_key(text);
  ASSERT_TRUE(back.ok()) << back.message;
  EXPECT_EQ(*back, a);
  EXPECT_EQ(key_to_base64(counting_key()), k_b64);
}

TEST(KeyringText, ParsesLinesLikeTheFile) {
  std::string text = "# keys\r\n\r\n\t" + std::string{k_b64} + " \r\n"
                     + std::string{k2_b64} + "\n#x\n" + std::string{k_hex};
  auto r = parse_keyring_text(text);
  ASSERT_TRUE(r.ok()) << r.message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->primary(), derived(counting_key()));
  EXPECT_EQ(r->keys()[1], derived(*decode_key(k2_b64)));
  EXPECT_EQ(r->keys()[2], derived(counting_key())); // no final newline
  // The AEAD key is derived from the key bytes, never the bytes themselves.
  EXPECT_NE(r->primary(), counting_key());
}

TEST(KeyringText, ErrorNamesSourceLineAndKeygenButNotTheLine) {
  std::string text = "# primary\n" + std::string{k_b64}
                     + "\n\n   hunter2-is-my-secret\n" + std::string{k2_b64};
  auto r = parse_keyring_text(text, "keyring file '/k'");
  EXPECT_EQ(r.code, ec::bad_keyring);
  EXPECT_EQ(r.message.rfind("keyring file '/k' line 4: 20 characters;", 0), 0u)
    << r.message;
  EXPECT_NE(r.message.find("make a key with 'pekoctl keygen'"),
            std::string::npos);
  EXPECT_EQ(r.message.find("hunter2"), std::string::npos);
  EXPECT_EQ(r.message.find('\n'), std::string::npos);
  // '#' only starts a comment at the beginning of the trimmed line.
  auto inner = parse_keyring_text(std::string{k_b64} + " # primary");
  EXPECT_EQ(inner.message.rfind("keyring text line 1:", 0), 0u)
    << inner.message;
  auto weak = parse_keyring_text(
    "\n\ncGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=\n", "f");
  EXPECT_EQ(weak.message.rfind("f line 3: weak key", 0), 0u) << weak.message;
}

TEST(KeyringText, NoKeysNamesTheSource) {
  for (std::string_view text : {"", "\n\n", "  # c\n\t\r\n", "#"}) {
    auto r = parse_keyring_text(text, "keyring from --x");
    EXPECT_EQ(r.code, ec::bad_keyring);
    EXPECT_EQ(r.message,
              "keyring from --x holds no keys; make one with 'pekoctl keygen'");
  }
}

TEST(KeyringFile, LoadsKeysAndWarnsAboutAModeOthersCanRead) {
  auto path = testing::TempDir() + "/keyring_ok";
  write_file(path, "# cluster keys\n" + std::string{k_b64} + "\n", 0600);
  std::string warning = "stale";
  auto r = load_keyring_file(path, &warning);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r->primary(), derived(counting_key()));
  EXPECT_EQ(warning, "");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  r = load_keyring_file(path, &warning);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_NE(warning.find("(mode 0644)"), std::string::npos) << warning;
  EXPECT_NE(warning.find(path), std::string::npos) << warning;
  EXPECT_TRUE(load_keyring_file(path).ok()); // the warning is optional
  std::remove(path.c_str());
}

TEST(KeyringFile, MissingEmptyAndNonRegularFilesGiveClearErrors) {
  auto missing = load_keyring_file("/nonexistent/keyring");
  EXPECT_EQ(missing.code, ec::bad_keyring);
  EXPECT_NE(missing.message.find("/nonexistent/keyring"), std::string::npos);
  auto dir = load_keyring_file(testing::TempDir());
  EXPECT_NE(dir.message.find("not a regular file"), std::string::npos)
    << dir.message;
  auto path = testing::TempDir() + "/keyring_empty";
  write_file(path, "# only a comment\n\n", 0600);
  auto empty = load_keyring_file(path);
  EXPECT_EQ(empty.code, ec::bad_keyring);
  EXPECT_NE(empty.message.find("no keys"), std::string::npos);
  EXPECT_NE(empty.message.find(path), std::string::npos);
  std::remove(path.c_str());
}

TEST(KeyringFile, OversizeFileIsRejected) {
  auto path = testing::TempDir() + "/keyring_huge";
  write_file(path,
             std::string{k_b64} + "\n" + std::string(max_keyring_file_bytes, '#'),
             0600);
  auto r = load_keyring_file(path);
  EXPECT_EQ(r.code, ec::bad_keyring);
  EXPECT_NE(r.message.find("larger than"), std::string::npos) << r.message;
  write_file(path,
             std::string{k_b64} + "\n#"
               + std::string(max_keyring_file_bytes - k_b64.size() - 2, 'x'),
             0600);
  auto at_cap = load_keyring_file(path); // exactly the cap: accepted
  ASSERT_TRUE(at_cap.ok()) << at_cap.message;
  EXPECT_EQ(at_cap->primary(), derived(counting_key()));
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
  uint64_t seq = 1;
  for (auto& d : batch.datagrams) {
    auto sealed = w.seal(d.bytes, "[2001:db8::1234:5678:9abc]:65535", seq++, 1);
    ASSERT_TRUE(sealed.ok()) << sealed.message;
    EXPECT_LE(sealed->size(), 500u);
    auto env = w.receive(*sealed);
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

} // namespace
} // namespace pekonode::transport
