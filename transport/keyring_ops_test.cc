#include "transport/keyring_ops.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "transport/shell.h"
#include "transport/transport.h"
#include "transport/wire.h"

namespace pekonode::transport {
namespace {

std::string material(const keyring::key& k) {
  return std::string{reinterpret_cast<const char*>(k.data()), k.size()};
}

struct fixture_keys {
  keyring::key a = random_key();
  keyring::key b = random_key();
  std::string a64 = key_to_base64(a);
  std::string b64 = key_to_base64(b);
  std::string fpa = key_fingerprint(material(a));
  std::string fpb = key_fingerprint(material(b));
};

keyring ring_of(const std::vector<keyring::key>& ks) {
  keyring r;
  for (auto& k : ks)
    r.add(material(k));
  return r;
}

std::string tmp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string{dir ? dir : "/tmp"} + "/" + name;
}

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(KeyFingerprint, IsStableShortHexAndNotTheKey) {
  fixture_keys k;
  EXPECT_EQ(k.fpa.size(), fingerprint_chars);
  EXPECT_EQ(k.fpa, key_fingerprint(material(k.a)));
  EXPECT_NE(k.fpa, k.fpb);
  EXPECT_EQ(k.a64.find(k.fpa), std::string::npos);
  auto derived = keyring::derive(material(k.a));
  EXPECT_NE(std::string(derived.begin(), derived.begin() + 8),
            material(k.a).substr(0, 8));
}

TEST(ChangeKeyring, InstallUseRemoveLikeARotation) {
  fixture_keys k;
  auto ring = ring_of({k.a});
  bool changed = false;
  auto r1 = change_keyring(ring, keyring_action::install, k.b64, changed);
  ASSERT_TRUE(r1.ok()) << r1.message;
  EXPECT_TRUE(changed);
  ASSERT_EQ(r1->size(), 2u);
  EXPECT_EQ(r1->primary(), keyring::derive(material(k.a)));
  // Installing it again changes nothing.
  auto again = change_keyring(*r1, keyring_action::install, k.b64, changed);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(again->size(), 2u);
  // Use by fingerprint (either case).
  std::string upper = k.fpb;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(c));
  auto r2 = change_keyring(*r1, keyring_action::use, upper, changed);
  ASSERT_TRUE(r2.ok()) << r2.message;
  EXPECT_TRUE(changed);
  EXPECT_EQ(r2->primary(), keyring::derive(material(k.b)));
  EXPECT_EQ(key_fingerprint(r2->materials()[1]), k.fpa);
  // The primary cannot be removed; the old key can, by its text.
  auto bad = change_keyring(*r2, keyring_action::remove, k.fpb, changed);
  EXPECT_EQ(bad.code, ec::primary_key);
  EXPECT_NE(bad.message.find("primary"), std::string::npos);
  auto r3 = change_keyring(*r2, keyring_action::remove, k.a64, changed);
  ASSERT_TRUE(r3.ok()) << r3.message;
  EXPECT_TRUE(changed);
  ASSERT_EQ(r3->size(), 1u);
  EXPECT_EQ(key_fingerprint(r3->materials()[0]), k.fpb);
}

TEST(ChangeKeyring, RefusesWhatIsNotAKeyOrNotInstalled) {
  fixture_keys k;
  auto ring = ring_of({k.a});
  bool changed = true;
  EXPECT_EQ(change_keyring(ring, keyring_action::install, "password", changed).code,
            ec::bad_keyring);
  EXPECT_FALSE(changed);
  // A weak key (base64 of "password" x4) is refused like in a file.
  auto weak = change_keyring(
    ring, keyring_action::install,
    "cGFzc3dvcmRwYXNzd29yZHBhc3N3b3JkcGFzc3dvcmQ=", changed);
  EXPECT_EQ(weak.code, ec::bad_keyring);
  EXPECT_NE(weak.message.find("weak"), std::string::npos) << weak.message;
  EXPECT_EQ(change_keyring(ring, keyring_action::install, k.fpb, changed).code,
            ec::bad_keyring);
  EXPECT_EQ(change_keyring(ring, keyring_action::use, k.fpb, changed).code,
            ec::key_not_found);
  EXPECT_EQ(change_keyring(ring, keyring_action::remove, k.b64, changed).code,
            ec::key_not_found);
  EXPECT_EQ(change_keyring(ring, keyring_action::list, "", changed).code,
            ec::bad_keyring);
  // Bounded.
  keyring full = ring;
  while (full.size() < max_keyring_keys)
    full.add(material(random_key()));
  EXPECT_EQ(change_keyring(full, keyring_action::install, k.b64, changed).code,
            ec::keyring_full);
}

TEST(KeyringFile, WrittenAtomicallyWithMode0600AndReadBack) {
  fixture_keys k;
  auto path = tmp_path("keyring-ops-test");
  {
    std::ofstream out{path};
    out << "old contents\n";
  }
  ::chmod(path.c_str(), 0644);
  auto text = keyring_file_text(ring_of({k.b, k.a}));
  ASSERT_TRUE(text.ok()) << text.message;
  auto w = write_file_atomically(path, *text);
  ASSERT_TRUE(w.ok()) << w.message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = load_keyring_file(path);
  ASSERT_TRUE(back.ok()) << back.message;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ(back->primary(), keyring::derive(material(k.b)));
  EXPECT_NE(read_all(path).find(k.a64), std::string::npos);
  // A directory that does not exist: an error naming the path, no crash.
  auto missing = write_file_atomically(tmp_path("no-such-dir/keyring"), *text);
  EXPECT_EQ(missing.code, ec::io_error);
  EXPECT_NE(missing.message.find("no-such-dir"), std::string::npos);
  // Secrets that are not keys cannot be written.
  auto odd = keyring::from_secrets({"not-a-32-byte-key"});
  EXPECT_EQ(keyring_file_text(*odd).code, ec::bad_keyring);
  ::unlink(path.c_str());
}

TEST(ShellKeyring, CommandsChangeWhatSealsAndPersistFirst) {
  fixture_keys k;
  auto path = tmp_path("keyring-shell-test");
  ASSERT_TRUE(write_file_atomically(path, *keyring_file_text(ring_of({k.a}))).ok());
  wire_config wc;
  wc.name = "n";
  detail::shell_env env;
  env.keyring_file = path;
  detail::shell sh{wire{wc, framer{*load_keyring_file(path), "c"}}, 1, env};
  auto list = sh.keyring_command({0, ""});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->keys.size(), 1u);
  EXPECT_EQ(list->keys[0].fingerprint, k.fpa);
  EXPECT_TRUE(list->keys[0].primary);
  auto inst = sh.keyring_command({1, k.b64});
  ASSERT_TRUE(inst.ok()) << inst.message;
  EXPECT_TRUE(inst->changed);
  EXPECT_TRUE(inst->persisted);
  EXPECT_EQ(load_keyring_file(path)->size(), 2u);
  auto use = sh.keyring_command({2, k.fpb});
  ASSERT_TRUE(use.ok()) << use.message;
  EXPECT_EQ(use->keys[0].fingerprint, k.fpb);
  // What the shell seals now opens under b alone.
  framer only_b{ring_of({k.b}), "c"};
  auto batch = sh.prepare(time_point{}, outbound_list{{"x:1", channel::membership, "m"}});
  auto sealed = sh.seal(time_point{}, "x:1", batch.datagrams.at(0).bytes, 1);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_TRUE(only_b.open(*sealed).ok());
  EXPECT_EQ(sh.keyring_command({3, k.fpb}).code, ec::primary_key);
  EXPECT_EQ(sh.keyring_command({9, ""}).code, ec::bad_keyring);
  // The file changes behind the node's back; reload takes it.
  ASSERT_TRUE(write_file_atomically(path, *keyring_file_text(ring_of({k.a}))).ok());
  auto rl = sh.keyring_command({4, ""});
  ASSERT_TRUE(rl.ok()) << rl.message;
  EXPECT_TRUE(rl->changed);
  ASSERT_EQ(rl->keys.size(), 1u);
  EXPECT_EQ(rl->keys[0].fingerprint, k.fpa);
  // A broken file is refused and the ring kept.
  {
    std::ofstream out{path};
    out << "not a key\n";
  }
  EXPECT_EQ(sh.keyring_command({4, ""}).code, ec::bad_keyring);
  EXPECT_EQ(sh.keyring_command({0, ""})->keys.at(0).fingerprint, k.fpa);
  // Persisting fails (the file's directory is gone): nothing changes.
  detail::shell_env env2;
  env2.keyring_file = tmp_path("gone-dir/keyring");
  detail::shell sh2{wire{wc, framer{ring_of({k.a}), "c"}}, 1, env2};
  EXPECT_EQ(sh2.keyring_command({1, k.b64}).code, ec::io_error);
  EXPECT_EQ(sh2.keyring_command({0, ""})->keys.size(), 1u);
  // A plaintext node has no keyring.
  detail::shell plain{wire{wc, framer{}}, 1};
  EXPECT_EQ(plain.keyring_command({0, ""}).code, ec::encryption_mismatch);
  ::unlink(path.c_str());
}

} // namespace
} // namespace pekonode::transport
