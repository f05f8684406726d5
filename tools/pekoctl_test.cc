// Runs the real pekoctl binary against an in-process admin server backed by
// the fake backend: output formats, exit codes and error messages.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "node/admin_http.h"
#include "node/event_log.h"
#include "node/fake_admin_backend.h"
#include "node/version.h"
#include "transport/crypto.h"

namespace pekonode::node {
namespace {

struct run_result {
  int code = -1;
  std::string out;  // stdout and stderr interleaved
};

// Arguments are passed through the shell: tests quote them themselves.
run_result shell(const std::string& cmd) {
  run_result res;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr)
    return res;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    res.out.append(buf.data(), n);
  int status = pclose(p);
  res.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return res;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string{dir != nullptr ? dir : "/tmp"} + "/" + name + "-"
         + std::to_string(::getpid());
}

constexpr const char* token = "pekoctl-test-token-0123456789";

class Pekoctl : public ::testing::Test {
 protected:
  void SetUp() override {
    start({});
  }

  void start(admin_config cfg) {
    if (server_)
      server_->stop();
    cfg.fault_injection = true;
    server_ = std::make_unique<admin_server>(backend_, cfg);
    ASSERT_EQ(server_->start("127.0.0.1", 0), "");
  }

  std::string addr() const {
    return "127.0.0.1:" + std::to_string(server_->port());
  }

  run_result run(const std::string& args, const std::string& stdin_text = {},
                 const std::string& env = {}) {
    std::string cmd;
    if (!stdin_text.empty())
      cmd = "printf '%s' '" + stdin_text + "' | ";
    cmd += env + " tools/pekoctl --addr=" + addr() + " " + args;
    return shell(cmd);
  }

  fake_admin_backend backend_;
  std::unique_ptr<admin_server> server_;
};

TEST_F(Pekoctl, MembersTable) {
  auto r = run("members");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "NAME    ADDRESS         STATE    INC  TAGS\n"
            "node-a  127.0.0.1:7946  alive    3    role=db\n"
            "node-b  127.0.0.1:7950  suspect  2\n");
}

TEST_F(Pekoctl, MembersFiltersAreAnchoredAndCombine) {
  auto r = run("members --status=alive");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "NAME    ADDRESS         STATE  INC  TAGS\n"
            "node-a  127.0.0.1:7946  alive  3    role=db\n");
  r = run("members --status=suspect,dead --name='node-.'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("node-b"), std::string::npos);
  EXPECT_EQ(r.out.find("node-a"), std::string::npos);
  r = run("members --tag=role=d.");
  EXPECT_NE(r.out.find("node-a"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("node-b"), std::string::npos);
  // Anchored: "d" does not match "db"; a missing tag never matches.
  r = run("members --tag=role=d");
  EXPECT_EQ(r.out, "NAME  ADDRESS  STATE  INC  TAGS\n");
  r = run("members --tag=role=db --tag=zone=.*");
  EXPECT_EQ(r.out, "NAME  ADDRESS  STATE  INC  TAGS\n");
  r = run("members --name=node");
  EXPECT_EQ(r.out, "NAME  ADDRESS  STATE  INC  TAGS\n");
}

TEST_F(Pekoctl, MembersJsonAndDetailed) {
  auto r = run("members --format=json --status=suspect");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "{\"members\":[{\"addr\":\"127.0.0.1:7950\",\"incarnation\":2,"
            "\"name\":\"node-b\",\"state\":\"suspect\",\"tags\":{}}]}\n");
  r = run("members --detailed --name=node-a");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "name:        node-a\n"
            "address:     127.0.0.1:7946\n"
            "state:       alive\n"
            "incarnation: 3\n"
            "tags:\n"
            "  role = db\n");
}

TEST_F(Pekoctl, MembersBadFiltersAreUsageErrors) {
  EXPECT_EQ(run("members --status=zombie").code, 2);
  EXPECT_EQ(run("members --name='('").code, 2);
  EXPECT_EQ(run("members --tag=novalue").code, 2);
  EXPECT_EQ(run("members --format=yaml").code, 2);
  EXPECT_EQ(run("members --detailed=yes").code, 2);
  EXPECT_EQ(run("self --status=alive").code, 2);
}

TEST_F(Pekoctl, JsonFlagPrintsRawJson) {
  auto r = run("--json self");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("{\"addr\":\"127.0.0.1:7946\"", 0), 0u) << r.out;
}

TEST_F(Pekoctl, KvRoundTripWithSlashAndSpaceInKey) {
  auto r = run("kv put 'cfg/db url' 'postgres://x'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "1.0@node-a\n");
  std::string v;
  ASSERT_TRUE(backend_.kv_get("cfg/db url", v).ok());
  EXPECT_EQ(v, "postgres://x");
  r = run("kv get 'cfg/db url'");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "postgres://x");
  r = run("kv list");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("cfg/db url  1.0@node-a  node-a  12"),
            std::string::npos)
    << r.out;
  r = run("kv del 'cfg/db url'");
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("kv get 'cfg/db url'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 404: no such key"), std::string::npos) << r.out;
}

TEST_F(Pekoctl, KvListPrefixAndGetRecurse) {
  ASSERT_TRUE(backend_.kv_put("app/a", "one").ok());
  ASSERT_TRUE(backend_.kv_put("app/b c", "two").ok());
  ASSERT_TRUE(backend_.kv_put("db/x", "three").ok());
  auto r = run("kv list --prefix=app/");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "KEY      VERSION     ORIGIN  SIZE\n"
            "app/a    1.0@node-a  node-a  3\n"
            "app/b c  2.0@node-a  node-a  3\n");
  r = run("kv get --recurse app/");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "app/a:one\napp/b c:two\n");
  r = run("kv get --recurse ''");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "app/a:one\napp/b c:two\ndb/x:three\n");
  EXPECT_EQ(run("kv list --recurse").code, 2);
  EXPECT_EQ(run("kv get k --prefix=a").code, 2);
}

TEST_F(Pekoctl, KvDelIsIdempotentUnlessStrict) {
  auto r = run("kv del missing");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "pekoctl: missing was not present\n");
  r = run("kv del missing --strict");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 404: no such key"), std::string::npos) << r.out;
  ASSERT_TRUE(backend_.kv_put("present", "x").ok());
  r = run("kv del --strict present");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "2.0@node-a\n");
}

TEST_F(Pekoctl, KvPutAndDelWithCasAndReplicas) {
  auto r = run("kv put --cas=0 k one");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "1.0@node-a\n");
  r = run("kv put --cas=0 k two");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 412: cas_mismatch: key 'k' is at version "
                       "1.0@node-a"),
            std::string::npos)
    << r.out;
  r = run("kv put --cas=1.0@node-a k two");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "2.0@node-a\n");
  r = run("kv del --cas=1.0@node-a k");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 412"), std::string::npos) << r.out;
  r = run("kv del --cas 2.0@node-a k");
  EXPECT_EQ(r.code, 0) << r.out;
  // Replicas: one other node alive in the fake, so K=2 works and K=3 is
  // refused naming the count.
  backend_.locked([](fake_admin_backend& b) {
    b.member_list[0].state = "alive"; // node-b
  });
  r = run("kv put --replicas=2 --wait=2s k three");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("kv put --replicas=3 k four");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 503: 3 replicas asked but only 2 nodes"),
            std::string::npos)
    << r.out;
  r = run("kv del --replicas=2 k");
  EXPECT_EQ(r.code, 0) << r.out;
  // Usage errors exit 2 without a request.
  EXPECT_EQ(run("kv put --replicas=0 k v").code, 2);
  EXPECT_EQ(run("kv put --replicas=x k v").code, 2);
  EXPECT_EQ(run("kv put --wait=2s k v").code, 2); // without --replicas
  EXPECT_EQ(run("kv put --replicas=2 --wait=soon k v").code, 2);
  EXPECT_EQ(run("kv get --cas=0 k").code, 2);
  EXPECT_EQ(run("kv put --cas= k v").code, 2);
}

TEST_F(Pekoctl, ValueFromStdin) {
  auto r = run("kv put k -", "from stdin");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string v;
  ASSERT_TRUE(backend_.kv_get("k", v).ok());
  EXPECT_EQ(v, "from stdin");
}

TEST_F(Pekoctl, ValueAboveTheLimitIsReportedWithNonZeroExit) {
  admin_config cfg;
  cfg.max_value_bytes = 1024;
  start(cfg);
  auto r = run("kv put big " + std::string(2000, 'x'));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 413: value of 2000 bytes exceeds the limit of "
                       "1024 bytes"),
            std::string::npos)
    << r.out;
}

TEST_F(Pekoctl, JoinWaitsForASeedAndFailsWhenNoneAnswers) {
  backend_.reachable_seeds = {"127.0.0.1:9100"};
  auto r = run("join 127.0.0.1:9100");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("joined: peer@127.0.0.1:9100 (127.0.0.1:9100) "
                        "answered",
                        0),
            0u)
    << r.out;
  r = run("join 127.0.0.1:1 --wait=300ms");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 504: no seed answered within 300 ms "
                       "(127.0.0.1:1)"),
            std::string::npos)
    << r.out;
  // --wait=0: only ask the node to start joining.
  r = run("join seed.example:7946 10.0.0.2:1 --wait=0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "contacted 2 seeds\n");
  EXPECT_EQ(run("join 127.0.0.1:1 --wait=soon").code, 2);
}

TEST_F(Pekoctl, TagsSetDeleteMergeReplaceAndClear) {
  auto r = run("tags --set zone=eu --set 'note=a b'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "tags: note=a b,role=db,zone=eu\n");
  r = run("tags --delete role --delete nothing");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(backend_.locked([](auto& b) { return b.me.tags; }),
            (tag_map{{"note", "a b"}, {"zone", "eu"}}));
  r = run("tags");
  EXPECT_EQ(r.out, "note=a b\nzone=eu\n");
  r = run("tags only=this");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(backend_.locked([](auto& b) { return b.me.tags; }),
            (tag_map{{"only", "this"}}));
  r = run("tags --clear");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(backend_.locked([](auto& b) { return b.me.tags.empty(); }));
  EXPECT_EQ(run("tags --set a=1 b=2").code, 2);
  EXPECT_EQ(run("tags --set a=1 --delete a").code, 2);
  EXPECT_EQ(run("tags --set novalue").code, 2);
}

TEST_F(Pekoctl, FaultsShowAndChange) {
  auto r = run("faults --drop=0.3 --block=127.0.0.1:9");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "drop_rate: 0.3\nblocked:   127.0.0.1:9\ndelay:     0 ms +/- 0 ms\n");
  r = run("faults --block=");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "drop_rate: 0.3\nblocked:   (none)\ndelay:     0 ms +/- 0 ms\n");
  r = run("faults --delay=50 --jitter=40");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "drop_rate: 0.3\nblocked:   (none)\ndelay:     50 ms +/- 40 ms\n");
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.delay_ms; }), 50u);
  EXPECT_EQ(run("faults --delay=-1").code, 2);
  EXPECT_EQ(run("faults --delay=1.5").code, 2);
  EXPECT_EQ(run("faults --jitter=10001").code, 2);
  // The node refuses jitter above the delay: reported, nothing changed.
  EXPECT_NE(run("faults --delay=10 --jitter=20").code, 0);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.jitter_ms; }), 40u);
}

TEST_F(Pekoctl, KeyringOnThisNodeListInstallUseRemove) {
  const std::string k1 = std::string(43, 'A') + "=";
  const std::string k2 = std::string(43, 'B') + "=";
  backend_.locked([&](auto& b) { b.ring = {k1}; });
  auto fp1 = fake_admin_backend::fake_fingerprint(k1);
  auto fp2 = fake_admin_backend::fake_fingerprint(k2);
  auto r = run("keyring list --local");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, fp1 + "  primary\n");
  r = run("keyring install - --local", k2); // the key from stdin
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, fp1 + "  primary\n" + fp2 + "\n");
  EXPECT_EQ(r.out.find(k2), std::string::npos);
  r = run("keyring install " + k2 + " --local");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("(unchanged)"), std::string::npos) << r.out;
  r = run("keyring use " + fp2 + " --local");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, fp2 + "  primary\n" + fp1 + "\n");
  r = run("keyring remove " + fp2 + " --local");
  EXPECT_EQ(r.code, 1) << r.out; // the primary
  r = run("keyring remove " + k1 + " --local");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, fp2 + "  primary\n");
  EXPECT_EQ(run("keyring").code, 2);
  EXPECT_EQ(run("keyring install").code, 2);
  EXPECT_EQ(run("keyring rotate " + k1).code, 2);
}

TEST_F(Pekoctl, KeyringCommandsReachTheClusterAndPrintTheTally) {
  const std::string k1 = std::string(43, 'A') + "=";
  const std::string k2 = std::string(43, 'B') + "=";
  backend_.locked([&](auto& b) { b.ring = {k1}; });
  auto fp1 = fake_admin_backend::fake_fingerprint(k1);
  auto fp2 = fake_admin_backend::fake_fingerprint(k2);
  auto r = run("keyring list");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "FINGERPRINT        NODES   PRIMARY ON\n" + fp1
                     + "   1/1     1\n1 of 1 nodes answered\n");
  r = run("keyring install -", k2);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(fp2 + "   1/1     0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 changed, 0 wrote their keyring file"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(k2), std::string::npos);
  // Nodes that fail or do not answer: named, and exit 1.
  backend_.locked([](auto& b) {
    b.cluster_errors["n2"] = "no such key installed";
    b.cluster_missing = {"n3"};
  });
  r = run("keyring use " + fp2);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("2 of 3 nodes answered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failed on n2: no such key installed"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no answer from n3"), std::string::npos) << r.out;
  r = run("--json keyring list");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("\"missing\":[\"n3\"]"), std::string::npos) << r.out;
  EXPECT_EQ(run("keyring list --local=1").code, 2) << "a switch";
}

TEST_F(Pekoctl, HealthAndReadyFollowTheNode) {
  EXPECT_EQ(run("health").code, 0);
  EXPECT_EQ(run("ready").code, 0);
  ASSERT_EQ(run("leave").code, 0);
  auto r = run("health");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 503: node has left the cluster"),
            std::string::npos)
    << r.out;
  EXPECT_EQ(run("ready").code, 1);
}

TEST_F(Pekoctl, HelpAndVersionExitZero) {
  for (auto* args : {"--help", "-h", "help"}) {
    auto r = shell(std::string{"tools/pekoctl "} + args);
    EXPECT_EQ(r.code, 0) << args;
    EXPECT_EQ(r.out.rfind("usage: pekoctl", 0), 0u) << args;
  }
  auto r = shell("tools/pekoctl --version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string{"pekoctl "} + PEKONODE_VERSION + "\n");
  r = run("version");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, std::string{"pekoctl "} + PEKONODE_VERSION
                     + "\nnode at " + addr() + ": pekonode/"
                     + PEKONODE_VERSION + "\n");
}

TEST(PekoctlKeygen, PrintsAFreshBase64KeyTheKeyringAccepts) {
  // Local only: no --addr, no node.
  auto a = shell("tools/pekoctl keygen");
  auto b = shell("tools/pekoctl keygen");
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  ASSERT_EQ(a.out.size(), 45u) << a.out; // 44 base64 characters + newline
  EXPECT_EQ(a.out.back(), '\n');
  EXPECT_EQ(a.out.find('\n'), 44u);
  EXPECT_NE(a.out, b.out);
  auto key = transport::decode_key(a.out.substr(0, 44));
  ASSERT_TRUE(key.ok()) << key.message;
  EXPECT_EQ(transport::key_to_base64(*key), a.out.substr(0, 44));
  // Both lines make a keyring file, the first one primary.
  auto ring = transport::parse_keyring_text(a.out + b.out);
  ASSERT_TRUE(ring.ok()) << ring.message;
  EXPECT_EQ(ring->size(), 2u);
  EXPECT_EQ(shell("tools/pekoctl keygen extra").code, 2);
  EXPECT_EQ(shell("tools/pekoctl keygen --wait=1s").code, 2);
}

TEST_F(Pekoctl, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("kv").code, 2);
  EXPECT_EQ(run("kv put onlykey").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("--bogus members").code, 2);
  EXPECT_EQ(run("-x members").code, 2);
  EXPECT_EQ(run("faults --drop=7").code, 2);
  EXPECT_EQ(run("join nope").code, 2);
  EXPECT_EQ(run("members --drop=0.1").code, 2);
}

TEST_F(Pekoctl, TokenFromFlagOrEnvironment) {
  admin_config cfg;
  cfg.token = token;
  start(cfg);
  auto r = run("kv put k v");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 401: this request needs the admin token"),
            std::string::npos)
    << r.out;
  auto file = temp_path("token");
  std::ofstream{file} << token << "\n";
  ::chmod(file.c_str(), 0600);
  r = run("--token_file=" + file + " kv put k v1");
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("kv put k v2", {}, std::string{"PEKOCTL_TOKEN="} + token);
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("kv put k v3", {}, "PEKOCTL_TOKEN_FILE=" + file);
  EXPECT_EQ(r.code, 0) << r.out;
  std::string v;
  ASSERT_TRUE(backend_.kv_get("k", v).ok());
  EXPECT_EQ(v, "v3");
  r = run("kv put k v4", {}, "PEKOCTL_TOKEN=wrong-token-0123456789");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("wrong admin token"), std::string::npos) << r.out;
  EXPECT_EQ(run("--token_file=" + file + "-absent members").code, 2);
  std::remove(file.c_str());
}

TEST_F(Pekoctl, HttpsWithCaFile) {
  admin_config cfg;
  cfg.tls_cert_pem = read_file("node/testdata/admin_tls_test_cert.pem");
  cfg.tls_key_pem = read_file("node/testdata/admin_tls_test_key.pem");
  start(cfg);
  auto r = shell("tools/pekoctl --addr=https://" + addr()
                 + " --ca_file=node/testdata/admin_tls_test_cert.pem self");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("name:        node-a"), std::string::npos) << r.out;
  // Without the CA the certificate is not trusted.
  r = shell("tools/pekoctl --addr=https://" + addr() + " self");
  EXPECT_EQ(r.code, 1) << r.out;
}

TEST_F(Pekoctl, UnreachableNodeExitsOne) {
  auto port = server_->port();
  server_->stop();
  auto r = shell("tools/pekoctl --addr=127.0.0.1:" + std::to_string(port)
                 + " --timeout=2 health");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("cannot reach node"), std::string::npos) << r.out;
}

TEST_F(Pekoctl, SnapshotSaveWritesTheFileAndRestoreSendsIt) {
  ASSERT_TRUE(backend_.kv_put("a", "1").ok());
  auto file = temp_path("snap");
  auto r = run("snapshot save " + file);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "saved 12 bytes to " + file + "\n");
  EXPECT_EQ(read_file(file), "PEKOSNAPa=1\n");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  r = run("snapshot restore " + file);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "restored 1 entries from node node-a: 1 applied (0 "
                   "deletes), 0 older than the version held\n");
  backend_.locked([](fake_admin_backend& b) {
    ASSERT_EQ(b.restored.size(), 1u);
    EXPECT_EQ(b.restored[0], "PEKOSNAPa=1\n");
  });
  // A file that is not a snapshot: the node's 400 reason, exit 1.
  std::ofstream(file) << "hello";
  r = run("snapshot restore " + file);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 400: bad_snapshot: not a pekonode snapshot"),
            std::string::npos)
    << r.out;
  r = run("snapshot restore " + file + ".missing");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot read"), std::string::npos) << r.out;
  EXPECT_EQ(run("snapshot save").code, 2);
  EXPECT_EQ(run("snapshot load " + file).code, 2);
}

TEST_F(Pekoctl, ForceLeaveExitCodes) {
  auto r = run("force-leave node-b");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "member node-b marked left\n");
  r = run("force-leave node-a");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
  r = run("force-leave ghost");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 404: no member named \"ghost\""),
            std::string::npos)
    << r.out;
  EXPECT_EQ(run("force-leave").code, 2);
  EXPECT_EQ(run("force-leave a b").code, 2);
}

// -- monitor --------------------------------------------------------------------

class PekoctlMonitor : public Pekoctl {
 protected:
  void SetUp() override {
    admin_config cfg;
    cfg.events = &log_;
    start(cfg);
  }

  event_log log_{64, [] { return int64_t{1700000000123}; }};
};

TEST_F(PekoctlMonitor, PrintsEventLinesAndFailsWhenTheNodeEndsTheStream) {
  log_.append(event_types::member_join, "node-b",
              nlohmann::json{{"state", "alive"}, {"addr", "127.0.0.1:7950"}});
  log_.append(event_types::key_put, "cfg/a",
              nlohmann::json{{"key", "cfg/a"}, {"size", 3}});
  log_.append(event_types::key_put, std::string{"evil\x1b[2Jkey"},
              nlohmann::json{{"size", 1}});
  auto text = std::async(std::launch::async,
                         [this] { return run("monitor --index=0"); });
  auto json = std::async(std::launch::async, [this] {
    return run("--json monitor --index=1 --type=key --prefix=cfg/");
  });
  ASSERT_TRUE(server_->await_event_streams(2, std::chrono::seconds{20}));
  // The streams end after the events the log holds; pekoctl reports the end.
  server_->stop();
  auto t = text.get();
  EXPECT_EQ(t.code, 1) << t.out;
  EXPECT_NE(t.out.find("2023-11-14T22:13:20.123Z  #1  member-join  node-b  "
                       "addr=127.0.0.1:7950  state=alive"),
            std::string::npos)
    << t.out;
  EXPECT_NE(t.out.find("#2  key-put  cfg/a  size=3"), std::string::npos)
    << t.out;
  // Control characters never reach the terminal.
  EXPECT_EQ(t.out.find('\x1b'), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("evil\\x1b[2Jkey"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("ended the event stream"), std::string::npos) << t.out;
  auto j = json.get();
  EXPECT_EQ(j.code, 1) << j.out;
  EXPECT_NE(j.out.find(R"("index":2)"), std::string::npos) << j.out;
  EXPECT_EQ(j.out.find("member-join"), std::string::npos) << j.out;
  EXPECT_EQ(j.out.find(R"("index":3)"), std::string::npos) << j.out;
}

TEST_F(PekoctlMonitor, BadFlagsAreUsageErrorsAndBadTypesTheNodesError) {
  auto r = run("monitor --index=abc");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("monitor extra");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("monitor --type=bogus");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown event type"), std::string::npos) << r.out;
  r = run("members --type=key");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST_F(Pekoctl, EventSendsNamePayloadAndCoalesce) {
  auto r = run("event deploy 'v 2' --coalesce");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("event deploy sent (id ", 0), 0u) << r.out;
  r = run("event from-stdin -", "payload bytes");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("event bare");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(backend_.events.size(), 3u);
  EXPECT_EQ(backend_.events[0].payload, "v 2");
  EXPECT_TRUE(backend_.events[0].coalesce);
  EXPECT_EQ(backend_.events[1].payload, "payload bytes");
  EXPECT_FALSE(backend_.events[1].coalesce);
  EXPECT_EQ(backend_.events[2].payload, "");
  // The node's refusals exit 1 and name the rule.
  r = run("event big " + std::string(600, 'x'));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("512"), std::string::npos) << r.out;
  backend_.event_budget = 0;
  r = run("event e");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("rate"), std::string::npos) << r.out;
  // Usage errors exit 2.
  EXPECT_EQ(run("event").code, 2);
  EXPECT_EQ(run("event a b c").code, 2);
  EXPECT_EQ(run("event a --node=x").code, 2);
}

TEST_F(Pekoctl, QueryPassesFiltersAndPrintsAcksResponsesAndStragglers) {
  backend_.query_responses = {{"node-a", "load 0.5"}};
  auto r = run("query uptime hi --node='node-.*' --tag=role='web|db' "
               "--tag dc=eu --timeout=2s");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "ack from node-a\n"
            "response from node-a: load 0.5\n"
            "no ack from node-b\n"
            "total acks: 1 (expected 2), responses: 1, stragglers: 1\n");
  ASSERT_EQ(backend_.queries.size(), 1u);
  auto& q = backend_.queries[0];
  EXPECT_EQ(q.name, "uptime");
  EXPECT_EQ(q.payload, "hi");
  EXPECT_EQ(q.node_filter, "node-.*");
  ASSERT_EQ(q.tags.size(), 2u);
  EXPECT_EQ(q.tags[0].second, "web|db");
  EXPECT_EQ(q.tags[1].first, "dc");
  EXPECT_EQ(q.timeout, std::chrono::seconds(2));
  r = run("query x --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"counts\""), std::string::npos) << r.out;
  EXPECT_EQ(run("query x --timeout=soon").code, 2);
  EXPECT_EQ(run("query x --tag=novalue").code, 2);
  r = run("query x --node='('");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("bad_filter"), std::string::npos) << r.out;
  // Other commands keep --timeout as the request timeout in seconds.
  EXPECT_EQ(run("members --timeout=2s").code, 2);
  EXPECT_EQ(run("members --timeout=2").code, 0);
}

} // namespace
} // namespace pekonode::node
