// Runs the real pekoctl binary against an in-process admin server backed by
// the fake backend: output formats, exit codes and error messages.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "node/admin_http.h"
#include "node/fake_admin_backend.h"

namespace pekonode::node {
namespace {

struct run_result {
  int code = -1;
  std::string out;  // stdout and stderr interleaved
};

class Pekoctl : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_config cfg;
    cfg.fault_injection = true;
    server_ = std::make_unique<admin_server>(backend_, cfg);
    ASSERT_EQ(server_->start("127.0.0.1", 0), "");
  }

  // Arguments are passed through the shell: tests quote them themselves.
  run_result run(const std::string& args, const std::string& stdin_text = {}) {
    std::string cmd;
    if (!stdin_text.empty())
      cmd = "printf '%s' '" + stdin_text + "' | ";
    cmd += "tools/pekoctl --addr=127.0.0.1:" +
           std::to_string(server_->port()) + " " + args + " 2>&1";
    run_result res;
    FILE* p = popen(cmd.c_str(), "r");
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

TEST_F(Pekoctl, ValueFromStdin) {
  auto r = run("kv put k -", "from stdin");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string v;
  ASSERT_TRUE(backend_.kv_get("k", v).ok());
  EXPECT_EQ(v, "from stdin");
}

TEST_F(Pekoctl, BackendErrorIsReportedWithNonZeroExit) {
  auto r = run("kv put big " + std::string(2000, 'x'));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("HTTP 400: value of 2000 bytes exceeds"),
            std::string::npos)
    << r.out;
}

TEST_F(Pekoctl, JoinTagsFaults) {
  auto r = run("join seed.example:7946 10.0.0.2:1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "contacted 2 seeds\n");
  r = run("tags zone=eu 'note=a b'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(backend_.locked([](auto& b) { return b.me.tags.at("note"); }),
            "a b");
  r = run("faults --drop=0.3 --block=127.0.0.1:9");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "drop_rate: 0.3\nblocked:   127.0.0.1:9\n");
  r = run("faults --block=");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "drop_rate: 0.3\nblocked:   (none)\n");
}

TEST_F(Pekoctl, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("kv").code, 2);
  EXPECT_EQ(run("kv put onlykey").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("--bogus members").code, 2);
  EXPECT_EQ(run("faults --drop=7").code, 2);
  EXPECT_EQ(run("join nope").code, 2);
  EXPECT_EQ(run("members --drop=0.1").code, 2);
}

TEST_F(Pekoctl, UnreachableNodeExitsOne) {
  auto port = server_->port();
  server_->stop();
  auto cmd = "tools/pekoctl --addr=127.0.0.1:" + std::to_string(port) +
             " --timeout=2 health 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 512> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(out.find("cannot reach node"), std::string::npos) << out;
}

} // namespace
} // namespace pekonode::node
