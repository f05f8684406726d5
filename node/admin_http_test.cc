// The admin server over real sockets on 127.0.0.1 (port 0), backed by the
// fake backend: routes and JSON shapes, limits, admission rules (Host,
// Origin, token, CSRF), deadlines for slow clients, caps, long-polls, TLS.

#include "node/admin_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "node/fake_admin_backend.h"

namespace pekonode::node {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// -- a raw HTTP/1.1 client: exact bytes out, status/headers/body back --------

struct raw_reply {
  int status = 0;                           ///< 0: no reply (closed / timeout)
  std::map<std::string, std::string> headers; ///< lower-case names
  std::string body;
  bool closed = false;                      ///< the server closed the socket

  json body_json() const {
    return json::parse(body);
  }
};

int connect_from(uint16_t port, const char* from = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (from != nullptr) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, from, &src.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response (or up to EOF / timeout).
raw_reply read_reply(int fd, std::chrono::milliseconds timeout) {
  raw_reply out;
  std::string buf;
  auto deadline = steady::now() + timeout;
  size_t header_end = std::string::npos;
  size_t want = std::string::npos;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::istringstream in{buf.substr(0, header_end)};
        std::string line;
        std::getline(in, line);
        if (line.size() > 12)
          out.status = std::atoi(line.c_str() + 9);
        while (std::getline(in, line)) {
          if (!line.empty() && line.back() == '\r')
            line.pop_back();
          auto colon = line.find(':');
          if (colon == std::string::npos)
            continue;
          auto name = line.substr(0, colon);
          for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          auto value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
          out.headers[name] = value;
        }
        if (out.headers.count("content-length") != 0)
          want = header_end + 4 + std::stoul(out.headers["content-length"]);
      }
    }
    if (want != std::string::npos && buf.size() >= want)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
    char chunk[65536];
    auto n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      out.closed = true;
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
  if (header_end != std::string::npos)
    out.body = buf.substr(header_end + 4);
  else
    out.status = 0;
  return out;
}

raw_reply raw_request(uint16_t port, const std::string& bytes,
                      std::chrono::milliseconds timeout =
                        std::chrono::seconds{10},
                      const char* from = nullptr) {
  int fd = connect_from(port, from);
  if (fd < 0)
    return {};
  send_all(fd, bytes);
  auto r = read_reply(fd, timeout);
  ::close(fd);
  return r;
}

std::string get_req(const std::string& path,
                    const std::string& extra_headers = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers
         + "Connection: close\r\n\r\n";
}

std::string body_req(const std::string& method, const std::string& path,
                     const std::string& body, const std::string& headers) {
  return method + " " + path + " HTTP/1.1\r\n" + headers
         + "Content-Length: " + std::to_string(body.size())
         + "\r\nConnection: close\r\n\r\n" + body;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ignore_sigpipe : public ::testing::Environment {
 public:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
  }
};

[[maybe_unused]] auto* const sigpipe_env =
  ::testing::AddGlobalTestEnvironment(new ignore_sigpipe);

// -- fixture -------------------------------------------------------------------

class AdminHttp : public ::testing::Test {
 protected:
  void start(admin_config cfg = {}) {
    cfg.max_value_bytes = 1024;
    cfg.max_key_bytes = 64;
    backend_.max_value = 1024;
    start_raw(std::move(cfg));
  }

  // Starts with `cfg` exactly as given.
  void start_raw(admin_config cfg) {
    server_ = std::make_unique<admin_server>(backend_, cfg);
    ASSERT_EQ(server_->start("127.0.0.1", 0), "");
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_url_encode(false);
    client_->set_read_timeout(20, 0);
  }

  void TearDown() override {
    client_.reset();
    if (server_)
      server_->stop();
  }

  uint16_t port() const {
    return server_->port();
  }

  static json body_json(const httplib::Result& r) {
    return json::parse(r->body);
  }

  static std::string error_of(const httplib::Result& r) {
    return json::parse(r->body)["error"].get<std::string>();
  }

  fake_admin_backend backend_;
  std::unique_ptr<admin_server> server_;
  std::unique_ptr<httplib::Client> client_;
};

// -- routes and shapes ---------------------------------------------------------

TEST_F(AdminHttp, HealthReflectsBackend) {
  start();
  auto r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "ok");
  backend_.locked([](auto& b) { b.is_healthy = false; });
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["error"], "node stopping");
  EXPECT_EQ(body_json(r)["status"], "stopping");
}

TEST_F(AdminHttp, HealthIs503LeftAfterLeaveAndOkAfterRejoin) {
  start();
  ASSERT_EQ(client_->Post("/v1/leave", "", "application/json")->status, 200);
  auto r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["status"], "left");
  ASSERT_EQ(client_->Post("/v1/rejoin", "", "application/json")->status, 200);
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(AdminHttp, ReadyReportsStandaloneJoiningJoinedAndLeft) {
  admin_config cfg;
  cfg.expect_peers = true;
  start(cfg);
  // node-b is only suspect: no peer alive yet.
  auto r = client_->Get("/v1/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["status"], "joining");
  EXPECT_EQ(body_json(r)["ready"], false);
  backend_.locked([](auto& b) { b.member_list[0].state = "alive"; });
  r = client_->Get("/v1/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "joined");
  EXPECT_EQ(body_json(r)["alive_peers"], 1);
  ASSERT_EQ(client_->Post("/v1/leave", "", "application/json")->status, 200);
  r = client_->Get("/v1/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["status"], "left");
}

TEST_F(AdminHttp, ReadyWhenStandaloneUntilAJoinIsRequested) {
  start();
  auto r = client_->Get("/v1/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "standalone");
  ASSERT_EQ(client_->Post("/v1/join", R"({"seeds":["127.0.0.1:9"]})",
                          "application/json")
              ->status,
            200);
  r = client_->Get("/v1/health/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["status"], "joining");
}

TEST_F(AdminHttp, SelfHasNameAddressIncarnationTags) {
  start();
  auto r = client_->Get("/v1/self");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  auto j = body_json(r);
  EXPECT_EQ(j["name"], "node-a");
  EXPECT_EQ(j["addr"], "127.0.0.1:7946");
  EXPECT_EQ(j["incarnation"], 3);
  EXPECT_EQ(j["tags"]["role"], "db");
}

TEST_F(AdminHttp, MembersSortedWithContractFields) {
  start();
  auto r = client_->Get("/v1/members");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto ms = body_json(r)["members"];
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0]["name"], "node-a");
  EXPECT_EQ(ms[1]["name"], "node-b");
  EXPECT_EQ(ms[1]["state"], "suspect");
  EXPECT_EQ(ms[1]["addr"], "127.0.0.1:7950");
  EXPECT_EQ(ms[1]["incarnation"], 2);
  EXPECT_TRUE(ms[1]["tags"].is_object());
}

TEST_F(AdminHttp, FaultsTakeDelayAndJitterAndRefuseBadValuesNamingThem) {
  admin_config cfg;
  cfg.fault_injection = true;
  start(cfg);
  auto post = [&](const std::string& body) {
    return client_->Post("/v1/faults", body, "application/json");
  };
  auto r = post(R"({"delay_ms":50,"jitter_ms":40})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["delay_ms"], 50);
  EXPECT_EQ(body_json(r)["jitter_ms"], 40);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.delay_ms; }), 50u);
  // A partial update keeps the delay; 50.0 is a whole number.
  r = post(R"({"drop_rate":0.1,"delay_ms":60.0})");
  ASSERT_EQ(r->status, 200) << r->body;
  r = client_->Get("/v1/faults");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["delay_ms"], 60);
  EXPECT_EQ(body_json(r)["jitter_ms"], 40);
  EXPECT_EQ(body_json(r)["drop_rate"], 0.1);

  struct bad {
    std::string body, error;
  };
  for (auto& b : std::vector<bad>{
         {R"({"delay_ms":-1})", "delay_ms must be in [0, 10000]"},
         {R"({"delay_ms":10001})", "delay_ms must be in [0, 10000]"},
         {R"({"jitter_ms":1e300})", "jitter_ms must be in [0, 10000]"},
         {R"({"delay_ms":"50"})", "delay_ms must be a whole number of milliseconds"},
         {R"({"jitter_ms":0.5})", "jitter_ms must be a whole number of milliseconds"},
         {R"({"delay_ms":null})", "delay_ms must be a whole number of milliseconds"},
         {R"({"delay_ms":10,"jitter_ms":11})",
          "jitter_ms (11) must not exceed delay_ms (10): a datagram cannot "
          "arrive before it was sent"},
         {R"({"jitter_ms":61})",
          "jitter_ms (61) must not exceed delay_ms (60): a datagram cannot "
          "arrive before it was sent"},
         {R"({"delay":5})",
          "unknown field \"delay\" (expected drop_rate, blocked, delay_ms, "
          "jitter_ms)"},
       }) {
    r = post(b.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << b.body;
    EXPECT_EQ(error_of(r), b.error) << b.body;
  }
  // Nothing of a refused request was applied.
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.delay_ms; }), 60u);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.jitter_ms; }), 40u);
  // Clearing both is allowed in one request.
  r = post(R"({"delay_ms":0,"jitter_ms":0})");
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(AdminHttp, UnavailableBackendGives503) {
  start();
  backend_.locked([](auto& b) { b.unavailable = true; });
  auto r = client_->Get("/v1/members");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["error"], "node stopping");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
}

TEST_F(AdminHttp, KvPutGetListDelete) {
  start();
  auto r = client_->Put("/v1/kv/alpha", "v1", "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto version = body_json(r)["version"].get<std::string>();
  EXPECT_EQ(version, "1.0@node-a");

  r = client_->Get("/v1/kv/alpha");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "v1");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r->get_header_value("X-Pekonode-Version"), version);
  EXPECT_EQ(r->get_header_value("X-Pekonode-Index"), "1");
  EXPECT_EQ(r->get_header_value("X-Pekonode-Origin"), "node-a");

  r = client_->Get("/v1/kv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["key"], "alpha");
  EXPECT_EQ(j["keys"][0]["version"], version);
  EXPECT_EQ(j["keys"][0]["origin"], "node-a");
  EXPECT_EQ(j["keys"][0]["size"], 2);
  EXPECT_FALSE(j["keys"][0].contains("value"));
  EXPECT_EQ(j["index"], 1);
  EXPECT_EQ(r->get_header_value("X-Pekonode-Index"), "1");

  r = client_->Delete("/v1/kv/alpha");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Get("/v1/kv/alpha");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body_json(r)["error"], "no such key");
  r = client_->Delete("/v1/kv/alpha");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// Compare-and-set on PUT and DELETE: cas=0 creates only, cas=VERSION (as
// X-Pekonode-Version prints it) writes only over that version; a mismatch
// is 412 naming the live version.
TEST_F(AdminHttp, CasCreatesOnlyOnceAndMismatchIs412NamingTheVersion) {
  start();
  auto r = client_->Put("/v1/kv/c?cas=0", "v1", "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto v1 = body_json(r)["version"].get<std::string>();
  EXPECT_EQ(body_json(r)["acked"], 1);
  r = client_->Put("/v1/kv/c?cas=0", "again", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(body_json(r)["current"], v1);
  EXPECT_NE(error_of(r).find("is at version " + v1), std::string::npos)
    << error_of(r);
  EXPECT_EQ(client_->Get("/v1/kv/c")->body, "v1");
  r = client_->Put("/v1/kv/c?cas=" + v1, "v2", "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto v2 = body_json(r)["version"].get<std::string>();
  // The old version no longer matches: neither for PUT nor for DELETE.
  r = client_->Put("/v1/kv/c?cas=" + v1, "v3", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(body_json(r)["current"], v2);
  r = client_->Delete("/v1/kv/c?cas=" + v1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(client_->Get("/v1/kv/c")->body, "v2");
  r = client_->Delete("/v1/kv/c?cas=" + v2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(client_->Get("/v1/kv/c")->status, 404);
  // Gone: any version mismatches and the body says there is none.
  r = client_->Put("/v1/kv/c?cas=" + v2, "v4", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  EXPECT_TRUE(body_json(r)["current"].is_null());
  // The version may come percent-encoded ('@' as %40).
  r = client_->Put("/v1/kv/c?cas=0", "v5", "text/plain");
  auto v5 = body_json(r)["version"].get<std::string>();
  auto at = v5.find('@');
  r = client_->Put("/v1/kv/c?cas=" + v5.substr(0, at) + "%40"
                     + v5.substr(at + 1),
                   "v6", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

// replicas=K: success names acked/wanted; too few held in time is 504
// saying how many did (the write stays applied); more than the live nodes
// is 503 before anything is written.
TEST_F(AdminHttp, ReplicasReportHowManyNodesHeldTheWrite) {
  backend_.member_list = {
    {"node-a", "127.0.0.1:7946", "alive", 3, {}},
    {"node-b", "127.0.0.1:7950", "alive", 1, {}},
    {"node-c", "127.0.0.1:7951", "alive", 1, {}},
    {"node-d", "127.0.0.1:7952", "dead", 1, {}},
  };
  backend_.replica_acks = 1;
  start();
  auto r = client_->Put("/v1/kv/r?replicas=2&timeout=2s", "v", "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["acked"], 2);
  EXPECT_EQ(body_json(r)["wanted"], 2);
  r = client_->Put("/v1/kv/r?replicas=3", "w", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  auto j = body_json(r);
  EXPECT_EQ(j["acked"], 2);
  EXPECT_EQ(j["wanted"], 3);
  EXPECT_EQ(j["applied"], true);
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  EXPECT_NE(error_of(r).find("2 of 3"), std::string::npos) << error_of(r);
  EXPECT_EQ(client_->Get("/v1/kv/r")->body, "w"); // applied all the same
  r = client_->Put("/v1/kv/r?replicas=4", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["wanted"], 4);
  EXPECT_EQ(body_json(r)["applied"], false);
  EXPECT_EQ(client_->Get("/v1/kv/r")->body, "w"); // not written
  r = client_->Delete("/v1/kv/r?replicas=3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(client_->Get("/v1/kv/r")->status, 404);
  r = client_->Delete("/v1/kv/r?replicas=2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

// A backend whose replicated writes wait until released.
class slow_replicas_backend : public fake_admin_backend {
 public:
  result kv_write(const std::string& key, std::string value,
                  const kv_write_options& opts, kv_write_view& out) override {
    if (opts.replicas > 1) {
      std::unique_lock<std::mutex> g{m_};
      ++waiting_;
      cv_.notify_all();
      cv_.wait(g, [&] { return released_; });
    }
    return fake_admin_backend::kv_write(key, std::move(value), opts, out);
  }
  void wait_for(int n) {
    std::unique_lock<std::mutex> g{m_};
    cv_.wait_for(g, std::chrono::seconds(10), [&] { return waiting_ >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> g{m_};
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool released_ = false;
};

// Replicated writes hold a worker each while they wait: only
// max_replica_waits at once, so probes and other calls keep a worker.
TEST(AdminServer, ReplicatedWritesWaitingAreBoundedAndProbesStillAnswer) {
  slow_replicas_backend backend;
  backend.member_list[0].state = "alive"; // node-b: K=2 is possible
  admin_config cfg;
  cfg.threads = 4;
  cfg.max_replica_waits = 2;
  admin_server server(backend, cfg);
  ASSERT_EQ(server.start("127.0.0.1", 0), "");
  auto put = [&](int* status) {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(20, 0);
    auto r = c.Put("/v1/kv/w?replicas=2", "v", "text/plain");
    *status = r ? r->status : -1;
  };
  int s1 = 0, s2 = 0;
  std::thread t1(put, &s1), t2(put, &s2);
  backend.wait_for(2);
  httplib::Client c("127.0.0.1", server.port());
  auto third = c.Put("/v1/kv/w?replicas=2", "v", "text/plain");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503);
  EXPECT_NE(third->body.find("too many writes are waiting for replicas "
                             "(limit 2)"),
            std::string::npos)
    << third->body;
  EXPECT_EQ(third->get_header_value("Retry-After"), "1");
  auto health = c.Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto local = c.Put("/v1/kv/l?replicas=1", "v", "text/plain");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200); // K=1 never waits
  backend.release();
  t1.join();
  t2.join();
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(s2, 200);
  // The slots are free again.
  auto after = c.Put("/v1/kv/w?replicas=2", "v", "text/plain");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  server.stop();
}

TEST_F(AdminHttp, BadWriteParametersAre400NamingTheRule) {
  start();
  struct bad_case {
    const char* method;
    const char* target;
    const char* needle;
  };
  for (auto& c : std::vector<bad_case>{
         {"PUT", "/v1/kv/b?cas=abc", "cas must be 0"},
         {"PUT", "/v1/kv/b?cas=1.2%40", "cas must be 0"},
         {"PUT", "/v1/kv/b?cas=1.2%40two%20words", "cas must be 0"},
         {"PUT", "/v1/kv/b?cas=", "cas must be 0"},
         {"PUT", "/v1/kv/b?replicas=0", "replicas must be"},
         {"PUT", "/v1/kv/b?replicas=two", "replicas must be"},
         {"PUT", "/v1/kv/b?replicas=99999", "replicas must be"},
         {"PUT", "/v1/kv/b?replicas=17", "replicas must be 1..16"},
         {"PUT", "/v1/kv/b?replicas=2&timeout=forever", "timeout must"},
         {"PUT", "/v1/kv/b?replicas=2&timeout=0", "timeout must"},
         {"PUT", "/v1/kv/b?replicas=2&timeout=2m", "limit of 60 s"},
         {"PUT", "/v1/kv/b?cas=0&cas=0", "more than once"},
         {"PUT", "/v1/kv/b?flags=1", "accepted: cas, replicas, timeout"},
         {"DELETE", "/v1/kv/b?cas=0", "cannot apply to DELETE"},
         {"DELETE", "/v1/kv/b?replicas=-1", "replicas must be"},
       }) {
    SCOPED_TRACE(std::string{c.method} + " " + c.target);
    auto r = std::string{c.method} == "PUT"
               ? client_->Put(c.target, "v", "text/plain")
               : client_->Delete(c.target);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(error_of(r).find(c.needle), std::string::npos) << error_of(r);
  }
  EXPECT_EQ(client_->Get("/v1/kv/b")->status, 404); // nothing was written
}

// Changes the key during the first read, so value and version of that read
// belong to different writes: the server must not pair them.
class racing_backend : public fake_admin_backend {
 public:
  std::atomic<int> races{1};
  result kv_get(const std::string& key, std::string& value) override {
    auto r = fake_admin_backend::kv_get(key, value);
    if (races > 0) {
      --races;
      fake_admin_backend::kv_put(key, "newer");
    }
    return r;
  }
};

TEST(AdminServer, ValueAndVersionComeFromTheSameWrite) {
  racing_backend backend;
  ASSERT_TRUE(backend.kv_put("k", "older").ok());
  admin_server server{backend, {}};
  ASSERT_EQ(server.start("127.0.0.1", 0), "");
  httplib::Client c{"127.0.0.1", server.port()};
  auto r = c.Get("/v1/kv/k");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "newer");
  EXPECT_EQ(r->get_header_value("X-Pekonode-Version"), "2.0@node-a");
  EXPECT_EQ(r->get_header_value("X-Pekonode-Index"), "2");
  // A key that never holds still is a 503 to retry, not a mismatched pair.
  backend.races = 1000;
  r = c.Get("/v1/kv/k");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("kept changing"), std::string::npos) << r->body;
}

TEST_F(AdminHttp, PrefixListsOnlyMatchingKeysAndRecurseAddsBase64Values) {
  start();
  ASSERT_TRUE(backend_.kv_put("app/a", "one").ok());
  ASSERT_TRUE(backend_.kv_put("app/b", std::string("t\0o", 3)).ok());
  ASSERT_TRUE(backend_.kv_put("apple", "x").ok());
  ASSERT_TRUE(backend_.kv_put("db/x", "y").ok());
  auto r = client_->Get("/v1/kv?prefix=app/");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto keys = body_json(r)["keys"];
  ASSERT_EQ(keys.size(), 2u) << r->body;
  EXPECT_EQ(keys[0]["key"], "app/a");
  EXPECT_EQ(keys[1]["key"], "app/b");
  EXPECT_FALSE(keys[0].contains("value"));
  EXPECT_EQ(body_json(r)["index"], 4);

  r = client_->Get("/v1/kv?prefix=app%2F&recurse");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  keys = body_json(r)["keys"];
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0]["value"], "b25l");
  EXPECT_EQ(keys[1]["value"], "dABv");
  // Consul's spelling: /v1/kv/{prefix}?recurse.
  r = client_->Get("/v1/kv/app?recurse=true");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["keys"].size(), 3u);
  r = client_->Get("/v1/kv?prefix=nothing");
  ASSERT_TRUE(r);
  EXPECT_TRUE(body_json(r)["keys"].empty());
}

TEST_F(AdminHttp, RecursiveReadAboveItsLimitIs400NamingIt) {
  admin_config cfg;
  cfg.max_recurse_bytes = 10;
  start(cfg);
  ASSERT_TRUE(backend_.kv_put("p/a", "123456").ok());
  ASSERT_TRUE(backend_.kv_put("p/b", "123456").ok());
  auto r = client_->Get("/v1/kv?prefix=p/&recurse=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("limit of 10 bytes"), std::string::npos)
    << r->body;
  EXPECT_EQ(client_->Get("/v1/kv?prefix=p/a&recurse=1")->status, 200);
}

TEST_F(AdminHttp, UnknownOrRepeatedQueryParametersAre400) {
  start();
  struct row {
    const char* path;
    const char* says;
  };
  const row rows[] = {
    {"/v1/kv?prefx=a", "unknown query parameter \"prefx\""},
    {"/v1/kv/k?cas=3", "unknown query parameter \"cas\""},
    {"/v1/members?status=alive", "it takes none"},
    {"/v1/kv?prefix=a&prefix=b", "more than once"},
    {"/v1/kv?recurse=maybe", "recurse must be"},
    {"/v1/kv?index=3", "needs watch=1"},
    {"/v1/kv?prefix=%zz", "malformed percent-encoding"},
  };
  for (auto& row : rows) {
    auto r = client_->Get(row.path);
    ASSERT_TRUE(r) << row.path;
    EXPECT_EQ(r->status, 400) << row.path;
    EXPECT_NE(error_of(r).find(row.says), std::string::npos)
      << row.path << ": " << r->body;
  }
}

TEST_F(AdminHttp, KeysWithSlashesAndPercentEncoding) {
  start();
  const std::string key = "cfg/db primary?x=1#%/\xff";
  auto path = "/v1/kv/" + percent_encode_key(key);
  EXPECT_EQ(percent_encode_key("a/b c"), "a/b%20c");
  auto r = client_->Put(path, std::string("bin\0ary", 7),
                        "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string stored;
  ASSERT_TRUE(backend_.kv_get(key, stored).ok());
  EXPECT_EQ(stored, std::string("bin\0ary", 7));
  r = client_->Get(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, std::string("bin\0ary", 7));
  // A plain '/' in the path is part of the key too.
  ASSERT_TRUE(backend_.kv_put("a/b/c", "deep").ok());
  r = client_->Get("/v1/kv/a/b/c");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "deep");
  // Listing survives non-UTF-8 keys.
  r = client_->Get("/v1/kv");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["keys"].size(), 2u);
}

TEST_F(AdminHttp, BadKeysAre400NamingTheRule) {
  start();
  auto r = client_->Get("/v1/kv/bad%zz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("percent"), std::string::npos);
  r = client_->Get("/v1/kv/trunc%4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Put("/v1/kv/", "x", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "empty key");
  r = client_->Put("/v1/kv/" + std::string(65, 'k'), "x",
                   "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("longer than the limit of 64 bytes"),
            std::string::npos)
    << r->body;
}

// -- bodies ----------------------------------------------------------------------

TEST_F(AdminHttp, ValuesAreAcceptedWithAnyContentTypeUpToTheLimit) {
  admin_config cfg;
  cfg.max_value_bytes = 512 * 1024;
  backend_.max_value = cfg.max_value_bytes;
  start_raw(cfg);
  for (size_t size : {size_t{1024}, size_t{10 * 1024}, size_t{512 * 1024}}) {
    for (const char* type : {"application/x-www-form-urlencoded",
                             "text/plain", "multipart/form-data",
                             "application/octet-stream", ""}) {
      std::string value(size, 'v');
      std::string headers = "Host: 127.0.0.1\r\n";
      if (*type != 0)
        headers += std::string{"Content-Type: "} + type + "\r\n";
      auto r = raw_request(port(), body_req("PUT", "/v1/kv/big", value,
                                            headers));
      ASSERT_EQ(r.status, 200) << size << " " << type << ": " << r.body;
      std::string stored;
      ASSERT_TRUE(backend_.kv_get("big", stored).ok());
      EXPECT_EQ(stored.size(), size);
    }
  }
}

TEST_F(AdminHttp, ValueAboveTheLimitIs413NamingTheLimit) {
  start();
  // Declared length: refused before the body (which is still read and
  // dropped, so the client sees the answer).
  auto r = client_->Put("/v1/kv/big", std::string(1025, 'x'),
                        "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_of(r),
            "value of 1025 bytes exceeds the limit of 1024 bytes (1 KiB)");
  // Far above: same answer.
  r = client_->Put("/v1/kv/big", std::string(200 * 1024, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_of(r).find("limit of 1024 bytes"), std::string::npos);
  // Chunked, no declared length: found while reading.
  std::string chunked =
    "PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
    "chunked\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 3; ++i)
    chunked += "200\r\n" + std::string(512, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  auto raw = raw_request(port(), chunked);
  EXPECT_EQ(raw.status, 413);
  EXPECT_EQ(raw.body_json()["error"],
            "value exceeds the limit of 1024 bytes (1 KiB)");
  // With Expect: 100-continue the refusal comes before any body byte.
  int fd = connect_from(port());
  ASSERT_GE(fd, 0);
  send_all(fd, "PUT /v1/kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
  raw = read_reply(fd, std::chrono::seconds{10});
  ::close(fd);
  EXPECT_EQ(raw.status, 413);
  std::string stored;
  EXPECT_FALSE(backend_.kv_get("big", stored).ok());
  // A JSON endpoint names its own limit.
  r = client_->Post("/v1/join", std::string(70 * 1024, ' '),
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_of(r).find("65536 bytes (64 KiB) for this endpoint"),
            std::string::npos)
    << r->body;
}

TEST_F(AdminHttp, BodyMemoryIsSharedAndBounded) {
  admin_config cfg;
  cfg.max_body_memory = 1500;
  start(cfg);
  // One upload holds 1000 bytes of the budget while it trickles in.
  int slow = connect_from(port());
  ASSERT_GE(slow, 0);
  send_all(slow, "PUT /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Length: 1000\r\n\r\nabc");
  // Wait until the server has parsed its headers and reserved the bytes.
  auto reserved = [this] {
    return server_->stats().value("pekonode_admin_body_bytes", {});
  };
  for (int i = 0; i < 500 && reserved() < 1000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  ASSERT_EQ(reserved(), 1000);
  auto r = client_->Put("/v1/kv/b", std::string(1000, 'b'),
                   "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(error_of(r).find("limit 1500 bytes in all"), std::string::npos)
    << r->body;
  send_all(slow, std::string(997, 'x'));
  auto done = read_reply(slow, std::chrono::seconds{10});
  ::close(slow);
  EXPECT_EQ(done.status, 200);
  // The server releases the reservation when it finishes the request, which
  // may be just after the client has read the reply.
  for (int i = 0; i < 200 && reserved() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  EXPECT_EQ(reserved(), 0);
  // Released: the next upload fits again.
  r = client_->Put("/v1/kv/b", std::string(1000, 'b'),
                   "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// -- status codes ------------------------------------------------------------------

TEST_F(AdminHttp, WrongMethodIs405WithAllowUnknownPathIs404) {
  start();
  auto r = client_->Post("/v1/members", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  EXPECT_NE(error_of(r).find("use GET, HEAD"), std::string::npos);
  // A body-less POST as curl -X POST sends it, and a form POST: 405 too.
  auto raw = raw_request(port(), "POST /v1/members HTTP/1.1\r\nHost: "
                                  "127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 405);
  raw = raw_request(port(),
                    body_req("POST", "/v1/members", "a=b",
                             "Host: 127.0.0.1\r\nContent-Type: "
                             "application/x-www-form-urlencoded\r\n"));
  EXPECT_EQ(raw.status, 405);
  r = client_->Post("/v1/kv/x", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD, PUT, DELETE");
  r = client_->Get("/v1/leave");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = client_->Get("/v1/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no such endpoint: \"/v1/nothing\"");
  r = client_->Get("/v1/health/live");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(AdminHttp, OptionsAnswersAllowWithoutCorsHeaders) {
  start();
  auto raw = raw_request(
    port(), "OPTIONS /v1/leave HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 204);
  EXPECT_EQ(raw.headers["allow"], "POST");
  EXPECT_EQ(raw.headers.count("access-control-allow-origin"), 0u);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.leaves; }), 0);
}

TEST_F(AdminHttp, MalformedAndAmbiguousRequestsAre400) {
  start();
  auto raw = raw_request(port(), "GET /v1/health HTTP/1.1\r\n\r\n");
  EXPECT_EQ(raw.status, 400);
  EXPECT_EQ(raw.body_json()["error"],
            "HTTP/1.1 request without a Host header");
  raw = raw_request(port(), "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Host: evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 400);
  EXPECT_EQ(raw.body_json()["error"], "header Host given more than once");
  raw = raw_request(port(), "GET /v1/" + std::string(9000, 'x')
                              + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(raw.status, 414);
  EXPECT_NE(raw.body.find("limit of 8192 bytes"), std::string::npos);
  // HTTP/1.0 needs no Host.
  raw = raw_request(port(), "GET /v1/health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(raw.status, 200);
}

// -- protection ------------------------------------------------------------------

TEST_F(AdminHttp, CsrfAndDnsRebindingRequestsAreRefused) {
  start();
  // The request a web page under a rebinding name sends.
  auto raw = raw_request(
    port(), body_req("POST", "/v1/leave", "x",
                     "Host: rebind.evil.example\r\n"
                     "Origin: http://evil.example\r\n"
                     "Content-Type: text/plain\r\n"));
  EXPECT_EQ(raw.status, 403);
  EXPECT_NE(raw.body.find("\\\"rebind.evil.example\\\" is not allowed"),
            std::string::npos)
    << raw.body;
  // A page of another origin aimed at the IP.
  raw = raw_request(port(), body_req("POST", "/v1/leave", "x",
                                     "Host: 127.0.0.1:" + std::to_string(port())
                                       + "\r\nOrigin: http://evil.example\r\n"
                                         "Content-Type: text/plain\r\n"));
  EXPECT_EQ(raw.status, 403);
  EXPECT_NE(raw.body.find("cross-origin request"), std::string::npos);
  raw = raw_request(port(), body_req("POST", "/v1/leave", "",
                                     "Host: 127.0.0.1\r\nOrigin: null\r\n"
                                     "Content-Type: application/json\r\n"));
  EXPECT_EQ(raw.status, 403);
  // Without Origin (old browsers' form posts): the form type alone.
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x"}) {
    raw = raw_request(port(), body_req("POST", "/v1/leave", "x",
                                       std::string{"Host: 127.0.0.1\r\n"
                                                   "Content-Type: "}
                                         + type + "\r\n"));
    EXPECT_EQ(raw.status, 403) << type;
    EXPECT_NE(raw.body.find("CSRF"), std::string::npos) << raw.body;
  }
  raw = raw_request(port(), body_req("POST", "/v1/join",
                                     R"({"seeds":["127.0.0.1:9"]})",
                                     "Host: localhost\r\nContent-Type: "
                                     "application/x-www-form-urlencoded\r\n"));
  EXPECT_EQ(raw.status, 403);
  // Reads from a foreign Origin are refused as well.
  raw = raw_request(port(), get_req("/v1/members",
                                    "Origin: http://evil.example\r\n"));
  EXPECT_EQ(raw.status, 403);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.leaves; }), 0);
  EXPECT_TRUE(backend_.locked([](auto& b) { return b.joined.empty(); }));
  // What is left allowed: the page's own origin, JSON, curl -X POST.
  auto own = "http://127.0.0.1:" + std::to_string(port());
  raw = raw_request(port(),
                    body_req("POST", "/v1/rejoin", "",
                             "Host: 127.0.0.1:" + std::to_string(port())
                               + "\r\nOrigin: " + own
                               + "\r\nContent-Type: application/json\r\n"));
  EXPECT_EQ(raw.status, 200) << raw.body;
  raw = raw_request(port(), "POST /v1/leave HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Connection: close\r\n\r\n");
  EXPECT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(backend_.locked([](auto& b) { return b.leaves; }), 1);
  // PUT/DELETE need a preflight browsers never pass: any type is a value.
  raw = raw_request(port(), body_req("PUT", "/v1/kv/k", "v",
                                     "Host: 127.0.0.1\r\n"
                                     "Content-Type: text/plain\r\n"));
  EXPECT_EQ(raw.status, 200);
  auto m = server_->stats().value("pekonode_admin_refused_total",
                                  {{"rule", "csrf"}});
  EXPECT_EQ(m, 4);
}

TEST_F(AdminHttp, AllowedHostsExtendTheDefaultList) {
  admin_config cfg;
  cfg.allowed_hosts = {"admin.internal"};
  start(cfg);
  for (const char* host : {"127.0.0.1", "localhost:1", "[::1]:7", "10.2.3.4",
                           "Admin.Internal:7947"}) {
    auto raw = raw_request(port(), std::string{"GET /v1/health HTTP/1.1\r\n"
                                               "Host: "}
                                     + host + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.status, 200) << host << " " << raw.body;
  }
  auto raw = raw_request(
    port(), "GET /v1/health HTTP/1.1\r\nHost: other.internal\r\n\r\n");
  EXPECT_EQ(raw.status, 403);
}

TEST_F(AdminHttp, TokenGuardsMutationsAndOptionallyReads) {
  admin_config cfg;
  cfg.token = "s3cr3t-t0ken-0123456789";
  start(cfg);
  auto r = client_->Post("/v1/leave", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(error_of(r).find("needs the admin token"), std::string::npos);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"pekonode\"");
  r = client_->Put("/v1/kv/k", "v", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  httplib::Headers wrong{{"Authorization", "Bearer s3cr3t-t0ken-0123456780"}};
  r = client_->Put("/v1/kv/k", wrong, "v", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(error_of(r), "wrong admin token");
  EXPECT_NE(r->get_header_value("WWW-Authenticate").find("invalid_token"),
            std::string::npos);
  httplib::Headers basic{{"Authorization", "Basic dTpw"}};
  r = client_->Delete("/v1/kv/k", basic);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(error_of(r).find("malformed Authorization"), std::string::npos);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.leaves; }), 0);
  // Reads stay open without token_reads.
  EXPECT_EQ(client_->Get("/v1/members")->status, 200);
  // With the token, even a text/plain POST is fine: a page cannot add it.
  client_->set_bearer_token_auth("s3cr3t-t0ken-0123456789");
  r = client_->Put("/v1/kv/k", "v", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Post("/v1/leave", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(server_->stats().value("pekonode_admin_refused_total",
                                   {{"rule", "token"}}),
            4);
}

TEST_F(AdminHttp, TokenReadsGuardsReadsButNotProbes) {
  admin_config cfg;
  cfg.token = "s3cr3t-t0ken-0123456789";
  cfg.token_reads = true;
  start(cfg);
  for (const char* path : {"/v1/members", "/v1/self", "/v1/kv", "/metrics",
                           "/v1/kv/x"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
  }
  EXPECT_EQ(client_->Get("/v1/health")->status, 200);
  EXPECT_EQ(client_->Get("/v1/health/ready")->status, 200);
  client_->set_bearer_token_auth("s3cr3t-t0ken-0123456789");
  EXPECT_EQ(client_->Get("/v1/members")->status, 200);
}

// -- the cluster view ----------------------------------------------------------

TEST_F(AdminHttp, UiServesItsFilesWithAStrictContentSecurityPolicy) {
  start();
  auto index = client_->Get("/ui/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<script src=\"app.js\""), std::string::npos);
  auto csp = index->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(index->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(client_->Get("/ui/index.html")->body, index->body);
  auto js = client_->Get("/ui/app.js");
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"),
            "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("/v1/members"), std::string::npos);
  EXPECT_FALSE(js->get_header_value("ETag").empty());
  EXPECT_EQ(client_->Get("/ui/style.css")->get_header_value("Content-Type"),
            "text/css; charset=utf-8");
}

TEST_F(AdminHttp, UiRedirectsUnknownFilesAre404AndItIsReadOnly) {
  start();
  auto r = client_->Get("/ui");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 308);
  EXPECT_EQ(r->get_header_value("Location"), "/ui/");
  for (const char* path : {"/ui/nope.js", "/ui/../v1/members", "/ui/%2e%2e/x",
                           "/ui/app.js/", "/ui//app.js"}) {
    auto miss = client_->Get(path);
    ASSERT_TRUE(miss) << path;
    EXPECT_EQ(miss->status, 404) << path;
  }
  auto post = client_->Post("/ui/", "x", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
}

TEST_F(AdminHttp, UiFilesNeedNoTokenButTheApiBehindThemDoes) {
  admin_config cfg;
  cfg.token = "s3cr3t-t0ken-0123456789";
  cfg.token_reads = true;
  start(cfg);
  EXPECT_EQ(client_->Get("/ui/")->status, 200);
  EXPECT_EQ(client_->Get("/ui/app.js")->status, 200);
  EXPECT_EQ(client_->Get("/v1/members")->status, 401);
}

// -- join ----------------------------------------------------------------------

TEST_F(AdminHttp, JoinValidatesSeeds) {
  start();
  auto r = client_->Post("/v1/join",
                         R"({"seeds":["seed.example:7946","[::1]:9"]})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["detail"], "contacted 2 seeds");
  auto joined = backend_.locked([](auto& b) { return b.joined; });
  EXPECT_EQ(joined,
            (std::vector<std::string>{"seed.example:7946", "[::1]:9"}));

  const char* bad[] = {
    "{not json",
    "[1,2]",
    "{}",
    R"({"seeds":[]})",
    R"({"seeds":"a:1"})",
    R"({"seeds":[7]})",
    R"({"seeds":["nope"]})",
    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
  };
  for (auto* body : bad) {
    r = client_->Post("/v1/join", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_TRUE(body_json(r).contains("error")) << body;
  }
  r = client_->Post("/v1/join?wait=soon", R"({"seeds":["127.0.0.1:9"]})",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Post("/v1/join?wait=2m", R"({"seeds":["127.0.0.1:9"]})",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("limit of 60 s"), std::string::npos);
}

TEST_F(AdminHttp, JoinWithWaitReportsTheSeedThatAnsweredOrTimesOut) {
  backend_.reachable_seeds = {"127.0.0.1:9100"};
  start();
  auto r = client_->Post("/v1/join?wait=5s", R"({"seeds":["127.0.0.1:9100"]})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(body_json(r)["detail"].get<std::string>().find(
              "joined: peer@127.0.0.1:9100 (127.0.0.1:9100) answered"),
            std::string::npos)
    << r->body;
  auto t0 = steady::now();
  r = client_->Post("/v1/join?wait=300ms", R"({"seeds":["127.0.0.1:1"]})",
                    "application/json");
  auto took = steady::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(error_of(r),
            "no seed answered within 300 ms (127.0.0.1:1); the node keeps "
            "retrying in the background");
  EXPECT_GE(took, std::chrono::milliseconds{300});
}

TEST(JoinEvidence, SeedAddressOrANewlyAliveMember) {
  std::vector<member_view> before{{"me", "127.0.0.1:1", "alive", 1, {}},
                                  {"b", "127.0.0.1:2", "alive", 1, {}},
                                  {"c", "127.0.0.1:3", "dead", 1, {}}};
  auto now = before;
  // Nothing changed and no seed is a member: no evidence.
  EXPECT_EQ(join_evidence("me", before, now, {"127.0.0.1:9"}), "");
  // The seed is an alive member (already known or not).
  EXPECT_EQ(join_evidence("me", before, now, {"127.0.0.1:2"}), "b");
  // A seed that resolves to ourselves proves nothing.
  EXPECT_EQ(join_evidence("me", before, now, {"127.0.0.1:1"}), "");
  // A member alive now that was not (a DNS seed that advertises elsewhere).
  now[2].state = "alive";
  EXPECT_EQ(join_evidence("me", before, now, {"seed.example:7946"}), "c");
  now.push_back({"d", "10.0.0.4:7946", "alive", 1, {}});
  EXPECT_EQ(join_evidence("me", before, now, {"10.0.0.4:7946"}), "d");
  // A suspect seed does not count.
  now = before;
  now[1].state = "suspect";
  EXPECT_EQ(join_evidence("me", before, now, {"127.0.0.1:2"}), "");
}

// -- other mutations -----------------------------------------------------------------

TEST_F(AdminHttp, MetadataBlobReadAndPublish) {
  start();
  auto r = client_->Get("/v1/metadata");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Put("/v1/metadata", "{\"config\":1}", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(body_json(r)["version"].is_string());
  r = client_->Get("/v1/metadata");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"config\":1}");
}

TEST_F(AdminHttp, LeaveRejoinAndTags) {
  start();
  auto r = client_->Post("/v1/leave", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Post("/v1/rejoin", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.leaves; }), 1);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.rejoins; }), 1);

  r = client_->Put("/v1/tags", R"({"zone":"eu","rack":"7"})",
                   "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  r = client_->Get("/v1/self");
  ASSERT_TRUE(r);
  auto tags = body_json(r)["tags"];
  EXPECT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags["zone"], "eu");
  r = client_->Put("/v1/tags", R"({"zone":1})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Put("/v1/tags", R"({"":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  // Replacing with an empty object clears them.
  r = client_->Put("/v1/tags", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(backend_.locked([](auto& b) { return b.me.tags.empty(); }));
}

TEST_F(AdminHttp, PatchTagsMergesSetsAndDeletes) {
  start();
  auto r = client_->Patch("/v1/tags", R"({"zone":"eu","role":null})",
                          "application/merge-patch+json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["tags"], json({{"zone", "eu"}}));
  r = client_->Patch("/v1/tags", R"({"rack":"7"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r)["tags"], json({{"rack", "7"}, {"zone", "eu"}}));
  EXPECT_EQ(backend_.locked([](auto& b) { return b.me.tags; }),
            (tag_map{{"rack", "7"}, {"zone", "eu"}}));
  r = client_->Patch("/v1/tags", R"({"rack":7})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("string (set) or null (delete)"),
            std::string::npos);
  // Deleting what is absent is fine; the result is what remains.
  r = client_->Patch("/v1/tags", R"({"nope":null})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["tags"].size(), 2u);
}

TEST_F(AdminHttp, MetricsIsPrometheusTextWithServerCounters) {
  start();
  ASSERT_TRUE(client_->Get("/v1/health"));
  auto r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_NE(r->body.find("pekonode_members 2\n"), std::string::npos);
  EXPECT_NE(r->body.find("pekonode_admin_requests_total{code=\"200\"} 1\n"),
            std::string::npos)
    << r->body;
  EXPECT_NE(r->body.find("# TYPE pekonode_admin_connections gauge\n"),
            std::string::npos)
    << r->body;
  ASSERT_TRUE(client_->Put("/v1/kv/x", std::string(4096, 'x'), "text/plain"));
  ASSERT_TRUE(client_->Get("/nope"));
  r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("pekonode_admin_requests_total{code=\"200\"} 2\n"),
            std::string::npos)
    << r->body;
  EXPECT_NE(r->body.find("pekonode_admin_requests_total{code=\"404\"} 1\n"),
            std::string::npos)
    << r->body;
  EXPECT_NE(r->body.find("pekonode_admin_requests_total{code=\"413\"} 1\n"),
            std::string::npos)
    << r->body;
}

// -- long-polls -------------------------------------------------------------------

TEST_F(AdminHttp, WatchReturnsEventsAfterIndexInOrder) {
  start();
  ASSERT_TRUE(backend_.kv_put("a", "1").ok());
  ASSERT_TRUE(backend_.kv_put("b", "2").ok());
  ASSERT_TRUE(backend_.kv_del("a").ok());
  auto r = client_->Get("/v1/kv?watch=1&index=1&wait=5s");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["index"], 3);
  EXPECT_EQ(j["truncated"], false);
  ASSERT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][0]["index"], 2);
  EXPECT_EQ(j["events"][0]["key"], "b");
  EXPECT_EQ(j["events"][0]["kind"], "put");
  EXPECT_EQ(j["events"][1]["index"], 3);
  EXPECT_EQ(j["events"][1]["kind"], "delete");
  EXPECT_TRUE(j["events"][1]["version"].is_string());
}

TEST_F(AdminHttp, WatchTimesOutEmpty) {
  start();
  ASSERT_TRUE(backend_.kv_put("a", "1").ok());
  auto t0 = steady::now();
  auto r = client_->Get("/v1/kv?watch=1&index=1&wait=200ms");
  auto took = steady::now() - t0;
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["index"], 1);
  EXPECT_TRUE(j["events"].empty());
  EXPECT_GE(took, std::chrono::milliseconds{200});
}

TEST_F(AdminHttp, WatchWakesOnLaterWriteAndFiltersByPrefix) {
  start();
  int status = 0;
  json body;
  std::thread watcher([&] {
    httplib::Client c{"127.0.0.1", port()};
    c.set_read_timeout(20, 0);
    auto r = c.Get("/v1/kv?watch=1&index=0&wait=10s&prefix=app/");
    status = r ? r->status : -1;
    if (r)
      body = json::parse(r->body);
  });
  ASSERT_TRUE(server_->await_watchers(1, std::chrono::seconds{10}));
  ASSERT_TRUE(backend_.kv_put("other/x", "1").ok());
  ASSERT_TRUE(backend_.kv_put("app/y", "2").ok());
  watcher.join();
  ASSERT_EQ(status, 200);
  ASSERT_EQ(body["events"].size(), 1u) << body;
  EXPECT_EQ(body["events"][0]["key"], "app/y");
  EXPECT_EQ(body["events"][0]["index"], 2);
  EXPECT_EQ(body["index"], 2);
}

TEST_F(AdminHttp, WatchReportsTruncatedHistory) {
  backend_.history = 2;
  start();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(backend_.kv_put("k" + std::to_string(i), "v").ok());
  auto r = client_->Get("/v1/kv?watch=1&index=1&wait=1s");
  ASSERT_TRUE(r);
  auto j = body_json(r);
  EXPECT_EQ(j["truncated"], true);
  EXPECT_EQ(j["index"], 5);
  // An index from the future (node restarted) also asks for a re-list.
  r = client_->Get("/v1/kv?watch=1&index=99&wait=1s");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r)["truncated"], true);
}

TEST_F(AdminHttp, WatchRejectsBadParameters) {
  start();
  for (auto* q : {"/v1/kv?watch=1&index=-1", "/v1/kv?watch=1&index=x",
                  "/v1/kv?watch=1&index=99999999999999999999999",
                  "/v1/kv?watch=1&wait=soon", "/v1/kv?watch=1&wait=5h",
                  "/v1/kv?watch=yes", "/v1/kv?watch=1&recurse"}) {
    auto r = client_->Get(q);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << q;
  }
}

TEST_F(AdminHttp, ConcurrentWatchesAreCapped) {
  admin_config cfg;
  cfg.max_watchers = 2;
  start(cfg);
  auto watch = [this](int* status) {
    httplib::Client c{"127.0.0.1", port()};
    c.set_read_timeout(20, 0);
    auto r = c.Get("/v1/kv?watch=1&index=0&wait=15s");
    *status = r ? r->status : -1;
  };
  int s1 = 0;
  int s2 = 0;
  std::thread w1(watch, &s1);
  std::thread w2(watch, &s2);
  ASSERT_TRUE(server_->await_watchers(2, std::chrono::seconds{10}));
  auto r = client_->Get("/v1/kv?watch=1&index=0&wait=1s");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_NE(error_of(r).find("limit 2"), std::string::npos);
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(backend_.kv_put("wake", "up").ok());
  w1.join();
  w2.join();
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(s2, 200);
}

// Long-polls park without a thread each: far more of them than worker
// threads, and the API still answers at once; one write wakes them all.
TEST_F(AdminHttp, ManyLongPollsDoNotStarveOtherRequests) {
  admin_config cfg;
  cfg.threads = 2;
  start(cfg);
  constexpr int n = 40;
  std::vector<std::thread> watchers;
  std::atomic<int> woke{0};
  for (int i = 0; i < n; ++i)
    watchers.emplace_back([this, &woke] {
      httplib::Client c{"127.0.0.1", port()};
      c.set_read_timeout(30, 0);
      auto r = c.Get("/v1/kv?watch=1&index=0&wait=20s");
      if (r && r->status == 200 && json::parse(r->body)["events"].size() == 1)
        ++woke;
    });
  ASSERT_TRUE(server_->await_watchers(n, std::chrono::seconds{20}));
  for (int i = 0; i < 5; ++i) {
    auto t0 = steady::now();
    auto r = client_->Get("/v1/members");
    auto took = steady::now() - t0;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(took, std::chrono::milliseconds{500});
  }
  auto calls_before = backend_.locked([](auto& b) { return b.kv_watch_calls; });
  ASSERT_TRUE(backend_.kv_put("wake", "up").ok());
  for (auto& t : watchers)
    t.join();
  EXPECT_EQ(woke, n);
  // One shared kv_watch per slice, not one per watcher.
  auto calls = backend_.locked([](auto& b) { return b.kv_watch_calls; })
               - calls_before;
  EXPECT_LT(calls, uint64_t{n});
}

TEST_F(AdminHttp, StopEndsALongPollPromptly) {
  start();
  int status = 0;
  std::thread watcher([this, &status] {
    httplib::Client c{"127.0.0.1", port()};
    c.set_read_timeout(30, 0);
    auto r = c.Get("/v1/kv?watch=1&index=0&wait=60s");
    status = r ? r->status : -1;
  });
  ASSERT_TRUE(server_->await_watchers(1, std::chrono::seconds{10}));
  auto t0 = steady::now();
  server_->stop();
  watcher.join();
  auto took = steady::now() - t0;
  EXPECT_LT(took, std::chrono::seconds{5});
  EXPECT_EQ(status, 200);
  // Stopped for good: a second start is refused.
  EXPECT_NE(server_->start("127.0.0.1", 0), "");
}

// -- slow clients, deadlines and caps ---------------------------------------------

// Opens `n` connections that each send a request header line every 50 ms and
// never finish; returns the descriptors (the trickle thread stops with
// `stop`).
struct slow_clients {
  std::vector<int> fds;
  std::atomic<bool> stop{false};
  std::thread trickle;

  slow_clients(uint16_t port, int n, const std::string& opening) {
    for (int i = 0; i < n; ++i) {
      int fd = connect_from(port);
      if (fd >= 0) {
        send_all(fd, opening);
        fds.push_back(fd);
      }
    }
    trickle = std::thread([this] {
      int i = 0;
      while (!stop) {
        for (int fd : fds)
          (void) ::send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        ++i;
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
      }
    });
  }

  ~slow_clients() {
    stop = true;
    trickle.join();
    for (int fd : fds)
      ::close(fd);
  }
};

// Times `checks` health requests on fresh connections; returns each in ms.
std::vector<double> time_health(uint16_t port, int checks) {
  std::vector<double> out;
  for (int i = 0; i < checks; ++i) {
    auto t0 = steady::now();
    auto r = raw_request(port, get_req("/v1/health"), std::chrono::seconds{5});
    auto ms = std::chrono::duration<double, std::milli>(steady::now() - t0)
                .count();
    out.push_back(r.status == 200 ? ms : 1e9);
  }
  return out;
}

TEST_F(AdminHttp, HealthAnswersWithin100msBeside64SlowHeaderClients) {
  start();
  slow_clients slow{port(), 64, "GET /v1/members HTTP/1.1\r\nX-Slow: "};
  ASSERT_EQ(slow.fds.size(), 64u);
  // Every one of them is open on the server.
  auto open = [this] {
    return server_->stats().value("pekonode_admin_connections", {});
  };
  for (int i = 0; i < 200 && open() < 64; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  ASSERT_GE(open(), 64);
  auto times = time_health(port(), 7);
  std::string line;
  for (double ms : times)
    line += std::to_string(static_cast<int>(ms * 10) / 10.0).substr(0, 5) + " ";
  std::printf("health beside 64 slow-header clients, ms: %s\n", line.c_str());
  for (double ms : times)
    EXPECT_LT(ms, 100.0);
}

TEST_F(AdminHttp, HealthAnswersWithin100msBeside64SlowBodyClients) {
  start();
  slow_clients slow{port(), 64,
                    "PUT /v1/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Length: 1000\r\n\r\n"};
  ASSERT_EQ(slow.fds.size(), 64u);
  auto open = [this] {
    return server_->stats().value("pekonode_admin_connections", {});
  };
  for (int i = 0; i < 200 && open() < 64; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  ASSERT_GE(open(), 64);
  auto times = time_health(port(), 7);
  std::string line;
  for (double ms : times)
    line += std::to_string(static_cast<int>(ms * 10) / 10.0).substr(0, 5) + " ";
  std::printf("health beside 64 slow-body clients, ms: %s\n", line.c_str());
  for (double ms : times)
    EXPECT_LT(ms, 100.0);
}

TEST_F(AdminHttp, SlowHeadersAreCutOffAtTheHeaderDeadlineWith408) {
  admin_config cfg;
  cfg.header_timeout = std::chrono::milliseconds{300};
  start(cfg);
  slow_clients slow{port(), 1, "GET /v1/members HTTP/1.1\r\nX-Slow: "};
  ASSERT_EQ(slow.fds.size(), 1u);
  auto t0 = steady::now();
  auto r = read_reply(slow.fds[0], std::chrono::seconds{10});
  auto took = steady::now() - t0;
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.body_json()["error"],
            "request headers not complete within 300 ms");
  EXPECT_GE(took, std::chrono::milliseconds{250});
  EXPECT_LT(took, std::chrono::seconds{5});
  // An idle connection that sends nothing is closed as well.
  int idle = connect_from(port());
  ASSERT_GE(idle, 0);
  r = read_reply(idle, std::chrono::seconds{10});
  ::close(idle);
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(server_->stats().value(
              "pekonode_admin_connections_timed_out_total",
              {{"phase", "headers"}}),
            2);
}

TEST_F(AdminHttp, SlowBodiesAreCutOffAtTheBodyDeadline) {
  admin_config cfg;
  cfg.body_timeout = std::chrono::milliseconds{300};
  start(cfg);
  slow_clients slow{port(), 1,
                    "PUT /v1/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Length: 1000\r\n\r\n"};
  ASSERT_EQ(slow.fds.size(), 1u);
  auto r = read_reply(slow.fds[0], std::chrono::seconds{10});
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.body_json()["error"], "request body not complete within 300 ms");
  std::string stored;
  EXPECT_FALSE(backend_.kv_get("slow", stored).ok());
  EXPECT_EQ(server_->stats().value(
              "pekonode_admin_connections_timed_out_total",
              {{"phase", "body"}}),
            1);
}

TEST_F(AdminHttp, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  int fd = connect_from(port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    send_all(fd, "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto r = read_reply(fd, std::chrono::seconds{5});
    EXPECT_EQ(r.status, 200) << i;
  }
  ::close(fd);
}

TEST_F(AdminHttp, PerClientCapLeavesRoomForOtherClients) {
  admin_config cfg;
  cfg.max_connections_per_client = 4;
  start(cfg);
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(connect_from(port(), "127.0.0.1"));
    ASSERT_GE(held.back(), 0);
  }
  auto open = [this] {
    return server_->stats().value("pekonode_admin_connections", {});
  };
  for (int i = 0; i < 200 && open() < 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  // A fifth from the same address is closed without an answer...
  auto r = raw_request(port(), get_req("/v1/health"), std::chrono::seconds{5},
                       "127.0.0.1");
  EXPECT_EQ(r.status, 0);
  // ...while another address is served.
  r = raw_request(port(), get_req("/v1/health"), std::chrono::seconds{5},
                  "127.0.0.2");
  EXPECT_EQ(r.status, 200);
  for (int fd : held)
    ::close(fd);
}

TEST_F(AdminHttp, TotalCapMakesNewClientsWaitUntilAConnectionCloses) {
  admin_config cfg;
  cfg.max_connections = 3;
  start(cfg);
  std::vector<int> held;
  const char* from[] = {"127.0.0.3", "127.0.0.4", "127.0.0.5"};
  for (auto* ip : from) {
    held.push_back(connect_from(port(), ip));
    ASSERT_GE(held.back(), 0);
  }
  auto open = [this] {
    return server_->stats().value("pekonode_admin_connections", {});
  };
  for (int i = 0; i < 200 && open() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  int waiting = connect_from(port(), "127.0.0.6");
  ASSERT_GE(waiting, 0);
  send_all(waiting, get_req("/v1/health"));
  auto r = read_reply(waiting, std::chrono::milliseconds{300});
  EXPECT_EQ(r.status, 0);
  ::close(held[0]);
  r = read_reply(waiting, std::chrono::seconds{5});
  EXPECT_EQ(r.status, 200);
  ::close(waiting);
  for (size_t i = 1; i < held.size(); ++i)
    ::close(held[i]);
}

// -- TLS, start and stop -------------------------------------------------------------

TEST(AdminServer, ServesHttpsWithTheGivenCertificate) {
  fake_admin_backend backend;
  admin_config cfg;
  cfg.tls_cert_pem = read_file("node/testdata/admin_tls_test_cert.pem");
  cfg.tls_key_pem = read_file("node/testdata/admin_tls_test_key.pem");
  ASSERT_FALSE(cfg.tls_cert_pem.empty());
  admin_server server{backend, cfg};
  ASSERT_EQ(server.start("127.0.0.1", 0), "");
  httplib::SSLClient c{"127.0.0.1", server.port()};
  c.set_ca_cert_path("node/testdata/admin_tls_test_cert.pem");
  c.enable_server_certificate_verification(true);
  auto r = c.Get("/v1/self");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["name"], "node-a");
  // Same-origin for a page served over https.
  r = c.Post("/v1/leave",
             {{"Origin", "https://127.0.0.1:" + std::to_string(server.port())}},
             "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Plain HTTP on the TLS port gets no HTTP answer.
  auto raw = raw_request(server.port(), get_req("/v1/health"),
                         std::chrono::seconds{5});
  EXPECT_EQ(raw.status, 0);
}

TEST(AdminServer, BadTlsMaterialIsAStartError) {
  fake_admin_backend backend;
  admin_config cfg;
  cfg.tls_cert_pem = "not a certificate";
  cfg.tls_key_pem = "not a key";
  admin_server server{backend, cfg};
  EXPECT_NE(server.start("127.0.0.1", 0), "");
  admin_config half;
  half.tls_cert_pem = read_file("node/testdata/admin_tls_test_cert.pem");
  admin_server other{backend, half};
  EXPECT_EQ(other.start("127.0.0.1", 0),
            "TLS needs both a certificate and a key");
}

TEST(AdminServer, BindFailureIsAnErrorNotACrash) {
  fake_admin_backend backend;
  admin_server first{backend, {}};
  ASSERT_EQ(first.start("127.0.0.1", 0), "");
  admin_server second{backend, {}};
  auto err = second.start("127.0.0.1", first.port());
  EXPECT_NE(err.find("cannot bind admin API to 127.0.0.1:"
                     + std::to_string(first.port())),
            std::string::npos)
    << err;
  EXPECT_EQ(second.port(), 0);
  admin_server third{backend, {}};
  EXPECT_NE(third.start("203.0.113.1", 0), "");  // not a local address
  admin_server fourth{backend, {}};
  EXPECT_NE(fourth.start("localhost", 0).find("not a numeric IP"),
            std::string::npos);
  second.stop();
  first.stop();
  first.stop();  // idempotent
}

TEST(AdminServer, ServesIpv6Loopback) {
  fake_admin_backend backend;
  admin_server server{backend, {}};
  auto err = server.start("::1", 0);
  if (!err.empty())
    GTEST_SKIP() << "no IPv6 loopback here: " << err;
  httplib::Client c{"::1", server.port()};
  auto r = c.Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// A backend that echoes after_index as last_index (a contract slip) must not
// make GET /v1/kv report an index no watch can ever pass.
class echoing_backend : public fake_admin_backend {
 public:
  result kv_watch(uint64_t after_index, duration, watch_batch& out) override {
    out = {};
    out.last_index = after_index;
    return result::success();
  }
};

TEST(AdminServer, ListIndexNeverInfinite) {
  echoing_backend backend;
  admin_server server{backend, {}};
  ASSERT_EQ(server.start("127.0.0.1", 0), "");
  httplib::Client c{"127.0.0.1", server.port()};
  auto r = c.Get("/v1/kv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["index"], 0);
}

// -- text helpers -------------------------------------------------------------------

TEST(ParseWait, Units) {
  duration d{};
  ASSERT_TRUE(parse_wait("250ms", d));
  EXPECT_EQ(d, std::chrono::milliseconds{250});
  ASSERT_TRUE(parse_wait("3", d));
  EXPECT_EQ(d, std::chrono::seconds{3});
  ASSERT_TRUE(parse_wait("2m", d));
  EXPECT_EQ(d, std::chrono::minutes{2});
  ASSERT_TRUE(parse_wait("999999999m", d));
  EXPECT_EQ(d, std::chrono::hours{24});
  EXPECT_FALSE(parse_wait("9999999999", d));
  EXPECT_FALSE(parse_wait("", d));
  EXPECT_FALSE(parse_wait("s", d));
  EXPECT_FALSE(parse_wait("1.5s", d));
}

TEST(PercentDecode, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  std::string back;
  ASSERT_TRUE(percent_decode(percent_encode_key(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(percent_decode("%", back));
  EXPECT_FALSE(percent_decode("%g0", back));
}

TEST(Base64, KnownVectorsAndRoundTrip) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> vectors[] = {
    {"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
  };
  for (auto& [plain, enc] : vectors) {
    EXPECT_EQ(base64_encode(plain), enc);
    std::string back;
    ASSERT_TRUE(base64_decode(enc, back)) << enc;
    EXPECT_EQ(back, plain);
  }
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  std::string back;
  ASSERT_TRUE(base64_decode(base64_encode(all), back));
  EXPECT_EQ(back, all);
  for (auto* bad : {"Zg=", "Z===", "Zm9v!", "=Zm9", "Zg==Zg=="})
    EXPECT_FALSE(base64_decode(bad, back)) << bad;
}

// -- snapshot save / restore, force-leave ---------------------------------------

TEST_F(AdminHttp, SnapshotSaveReturnsTheFileAndRestoreAppliesIt) {
  start();
  ASSERT_EQ(client_->Put("/v1/kv/a", "1", "text/plain")->status, 200);
  ASSERT_EQ(client_->Put("/v1/kv/b", "2", "text/plain")->status, 200);
  auto r = client_->Get("/v1/snapshot");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r->body, "PEKOSNAPa=1\nb=2\n");
  // Any content type: a snapshot is a file, as curl --data-binary sends it.
  r = client_->Put("/v1/snapshot", r->body, "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body_json(r);
  EXPECT_EQ(j["records"], 2);
  EXPECT_EQ(j["applied"], 2);
  EXPECT_EQ(j["source_node"], "node-a");
  backend_.locked([](fake_admin_backend& b) {
    ASSERT_EQ(b.restored.size(), 1u);
    EXPECT_EQ(b.restored[0], "PEKOSNAPa=1\nb=2\n");
  });
  r = client_->Post("/v1/snapshot", "x", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD, PUT");
}

TEST_F(AdminHttp, SnapshotRefusalsNameTheRule) {
  admin_config cfg;
  cfg.max_snapshot_bytes = 4000;
  cfg.max_body_memory = 1500;
  start(cfg);
  auto r = client_->Put("/v1/snapshot", "", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("empty body"), std::string::npos) << r->body;
  r = client_->Put("/v1/snapshot", "{\"k\":1}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("not a pekonode snapshot"), std::string::npos)
    << r->body;
  r = client_->Put("/v1/snapshot", std::string(5000, 's'),
                   "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_of(r), "snapshot of 5000 bytes exceeds the limit of 4000 "
                         "bytes (max_snapshot_bytes)");
  // Above the value limit (1 KiB) and the shared body budget (1500 bytes),
  // within the snapshot limit: accepted, from its own budget.
  std::string big = "PEKOSNAP" + std::string(3000, 'x') + "\n";
  r = client_->Put("/v1/snapshot", big, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  for (int i = 0; i < 200 && server_->stats().value("pekonode_admin_body_bytes", {}) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  EXPECT_EQ(server_->stats().value("pekonode_admin_body_bytes", {}), 0);
  // A store whose snapshot would exceed the limit: 400 naming it.
  ASSERT_EQ(client_->Put("/v1/kv/big", std::string(1000, 'v'), "text/plain")->status, 200);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(client_->Put("/v1/kv/k" + std::to_string(i),
                           std::string(1000, 'v'), "text/plain")->status, 200);
  r = client_->Get("/v1/snapshot");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("limit 4000"), std::string::npos) << r->body;
}

TEST_F(AdminHttp, SnapshotRestoreNeedsTheTokenWhenOneIsSet) {
  admin_config cfg;
  cfg.token = "0123456789abcdef-token";
  start(cfg);
  auto r = client_->Put("/v1/snapshot", "PEKOSNAP", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  backend_.locked([](fake_admin_backend& b) { EXPECT_TRUE(b.restored.empty()); });
}

TEST_F(AdminHttp, ForceLeaveMarksAFailedMemberLeftAndRefusesOthers) {
  start();
  auto post = [&](const std::string& body) {
    return client_->Post("/v1/force-leave", body, "application/json");
  };
  auto r = post(R"({"name":"node-b"})"); // suspect in the fake
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["ok"], true);
  backend_.locked([](fake_admin_backend& b) {
    EXPECT_EQ(b.member_list[0].state, "left");
  });
  r = post(R"({"name":"node-b"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("is left"), std::string::npos) << r->body;
  r = post(R"({"name":"node-a"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = post(R"({"name":"nobody"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no member named \"nobody\"");
  for (auto* bad : {R"({})", R"({"name":3})", R"({"name":"a b"})",
                    R"({"name":"x","extra":1})", "not json"}) {
    r = post(bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
  // A form post could come from any web page: refused without a token.
  r = client_->Post("/v1/force-leave", "name=node-b",
                    "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Get("/v1/force-leave");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
}

// -- user events and queries ----------------------------------------------------

TEST_F(AdminHttp, EventPostRaisesTheNamedEventWithItsPayload) {
  start();
  auto r = client_->Post("/v1/event/deploy%2Fweb?coalesce=1", "v2",
                         "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body_json(r);
  EXPECT_EQ(j["name"], "deploy/web");
  EXPECT_EQ(j["origin"], "node-a");
  EXPECT_EQ(j["coalesce"], true);
  EXPECT_EQ(j["size"], 2);
  EXPECT_EQ(j["id"].get<std::string>().size(), 16u);
  // An empty payload is an event too.
  r = client_->Post("/v1/event/ping", "", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  backend_.locked([](auto& b) {
    ASSERT_EQ(b.events.size(), 2u);
    EXPECT_EQ(b.events[0].payload, "v2");
    EXPECT_TRUE(b.events[0].coalesce);
    EXPECT_FALSE(b.events[1].coalesce);
  });
}

TEST_F(AdminHttp, EventLimitsNameTheRuleBroken) {
  start();
  auto post = [&](const std::string& path, const std::string& body) {
    return client_->Post(path, body, "application/octet-stream");
  };
  auto r = post("/v1/event/has%20space", "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("visible ASCII"),
            std::string::npos);
  r = post("/v1/event/", "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = post("/v1/event/big", std::string(510, 'p')); // 3 + 510 > 512
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("512"),
            std::string::npos);
  r = post("/v1/event/big", std::string(4000, 'p')); // refused before reading
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = post("/v1/event/e?coalesce=maybe", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = post("/v1/event/e?bogus=1", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/v1/event/e");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  backend_.locked([](auto& b) { b.event_budget = 0; });
  r = post("/v1/event/e", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("rate"),
            std::string::npos);
}

TEST_F(AdminHttp, QueryPassesFiltersAndReportsCounts) {
  start();
  backend_.locked([](auto& b) {
    b.member_list[0].state = "alive";
    b.query_responses = {{"node-a", "up 3 days"}};
  });
  auto r = client_->Post(
    "/v1/query/uptime?node=node-.*&tag=role%3Dweb%7Cdb&tag=dc=eu&timeout=2s",
    "hi", "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = body_json(r);
  EXPECT_EQ(j["name"], "uptime");
  EXPECT_EQ(j["acks"], json::array({"node-b", "node-a"}));
  EXPECT_EQ(j["responses"]["node-a"], "up 3 days");
  EXPECT_EQ(j["counts"]["acks"], 2);
  EXPECT_EQ(j["counts"]["responses"], 1);
  EXPECT_EQ(j["counts"]["stragglers"], 0);
  backend_.locked([](auto& b) {
    ASSERT_EQ(b.queries.size(), 1u);
    auto& q = b.queries[0];
    EXPECT_EQ(q.name, "uptime");
    EXPECT_EQ(q.payload, "hi");
    EXPECT_EQ(q.node_filter, "node-.*");
    ASSERT_EQ(q.tags.size(), 2u);
    EXPECT_EQ(q.tags[0], (std::pair<std::string, std::string>{"role", "web|db"}));
    EXPECT_EQ(q.tags[1], (std::pair<std::string, std::string>{"dc", "eu"}));
    EXPECT_EQ(q.timeout, std::chrono::seconds(2));
  });
}

TEST_F(AdminHttp, QueryRejectsBadTimeoutsTagsAndFilters) {
  start();
  auto post = [&](const std::string& path) {
    return client_->Post(path, "", "application/octet-stream");
  };
  for (auto path : {"/v1/query/q?timeout=0s", "/v1/query/q?timeout=61s",
                    "/v1/query/q?timeout=soon", "/v1/query/q?tag=novalue",
                    "/v1/query/q?tag==x", "/v1/query/q?node=(",
                    "/v1/query/q?node=a&node=b", "/v1/query/q?timeout=1s&timeout=2s",
                    "/v1/query/bad%01name"}) {
    auto r = post(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << " " << r->body;
  }
  auto r = client_->Post("/v1/query/q", std::string(600, 'x'),
                         "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  backend_.locked([](auto& b) { EXPECT_TRUE(b.queries.empty()); });
}

} // namespace
} // namespace pekonode::node

namespace pekonode::node {
namespace {

class AdminKeyring : public ::testing::Test {
protected:
  void SetUp() override {
    backend_.ring = {std::string(43, 'A') + "=", };
    admin_config cfg;
    cfg.token = "k3yr1ng-t0ken-0123456789";
    server_ = std::make_unique<admin_server>(backend_, cfg);
    ASSERT_EQ(server_->start("127.0.0.1", 0), "");
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(20, 0);
  }
  void TearDown() override {
    client_.reset();
    server_->stop();
  }
  void authorize() { client_->set_bearer_token_auth("k3yr1ng-t0ken-0123456789"); }
  httplib::Result del(const std::string& body,
                      const std::string& path = "/v1/keyring?local") {
    return client_->Delete(path.c_str(), body, "application/json");
  }

  fake_admin_backend backend_;
  std::unique_ptr<admin_server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminKeyring, OnThisNodeListsFingerprintsInstallsUsesAndRemoves) {
  const std::string k1 = std::string(43, 'A') + "=";
  const std::string k2 = std::string(43, 'B') + "=";
  auto fp1 = fake_admin_backend::fake_fingerprint(k1);
  auto fp2 = fake_admin_backend::fake_fingerprint(k2);
  auto r = client_->Get("/v1/keyring?local"); // reads need no token here
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["fingerprint"], fp1);
  EXPECT_EQ(j["keys"][0]["primary"], true);
  EXPECT_EQ(j["primary"], fp1);
  EXPECT_EQ(r->body.find(k1), std::string::npos); // never the key itself
  authorize();
  r = client_->Post("/v1/keyring?local", json{{"install", k2}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["changed"], true);
  ASSERT_EQ(j["keys"].size(), 2u);
  EXPECT_EQ(r->body.find(k2), std::string::npos);
  r = client_->Post("/v1/keyring?local", json{{"use", fp2}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["primary"], fp2);
  r = del(json{{"key", fp2}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body; // the primary
  r = del(json{{"key", k1}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["fingerprint"], fp2);
  r = del(json{{"key", fp1}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
}

TEST_F(AdminKeyring, MutationsNeedTheTokenAndAWellFormedBody) {
  const std::string k2 = std::string(43, 'B') + "=";
  auto r = client_->Post("/v1/keyring", json{{"install", k2}}.dump(),
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = del(json{{"key", "0123456789abcdef"}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.ring.size(); }), 1u);
  authorize();
  struct bad {
    const char* method;
    std::string body;
    const char* want;
  };
  for (auto& b : std::vector<bad>{
         {"POST", "{}", "exactly one field"},
         {"POST", json{{"install", k2}, {"use", k2}}.dump(), "exactly one field"},
         {"POST", json{{"remove", k2}}.dump(), "unknown field"},
         {"POST", json{{"install", 7}}.dump(), "must be a string"},
         {"POST", json{{"install", std::string(200, 'x')}}.dump(), "longer than"},
         {"POST", "[1]", ""},
         {"POST", "not json", ""},
         {"DELETE", json{{"install", k2}}.dump(), "unknown field"},
       }) {
    auto res = std::string{b.method} == "POST"
                 ? client_->Post("/v1/keyring", b.body, "application/json")
                 : del(b.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << b.method << " " << b.body << ": " << res->body;
    EXPECT_NE(res->body.find(b.want), std::string::npos) << res->body;
  }
  EXPECT_EQ(client_->Put("/v1/keyring", "{}", "application/json")->status, 405);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.ring.size(); }), 1u);
  for (auto* target : {"/v1/keyring?local=maybe", "/v1/keyring?timeout=0s",
                       "/v1/keyring?timeout=2m", "/v1/keyring?local&timeout=1s",
                       "/v1/keyring?timeout=soon"}) {
    auto res = client_->Get(target);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << target << ": " << res->body;
  }
}

TEST_F(AdminKeyring, ClusterWideByDefaultWithTheTally) {
  const std::string k1 = std::string(43, 'A') + "=";
  const std::string k2 = std::string(43, 'B') + "=";
  auto fp1 = fake_admin_backend::fake_fingerprint(k1);
  auto fp2 = fake_admin_backend::fake_fingerprint(k2);
  auto r = client_->Get("/v1/keyring?timeout=2s");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(backend_.locked([](auto& b) { return b.last_keyring_timeout; }),
            std::chrono::seconds(2));
  auto j = json::parse(r->body);
  EXPECT_EQ(j["nodes"], 1);
  EXPECT_EQ(j["responded"], 1);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["fingerprint"], fp1);
  EXPECT_EQ(j["keys"][0]["nodes"], 1);
  EXPECT_EQ(j["keys"][0]["primary_on"], 1);
  EXPECT_EQ(j["primary"], fp1);
  EXPECT_TRUE(j["errors"].empty());
  EXPECT_TRUE(j["missing"].empty());
  authorize();
  r = client_->Post("/v1/keyring", json{{"install", k2}}.dump(),
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["changed"], 1);
  EXPECT_EQ(j["keys"].size(), 2u);
  EXPECT_EQ(r->body.find(k2), std::string::npos); // never the key itself
  // One node failed and one did not answer: 500, with the whole tally and
  // a line naming the first failure.
  backend_.locked([](auto& b) {
    b.cluster_errors["n2"] = "no such key installed";
    b.cluster_missing = {"n3"};
    return 0;
  });
  r = client_->Post("/v1/keyring", json{{"use", fp2}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 500) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["nodes"], 3);
  EXPECT_EQ(j["responded"], 2);
  EXPECT_EQ(j["errors"]["n2"], "no such key installed");
  EXPECT_EQ(j["missing"], json::array({"n3"}));
  EXPECT_EQ(j["primary"], fp2); // the one node that answered uses it
  EXPECT_NE(j["error"].get<std::string>().find("2 of 3 nodes"),
            std::string::npos) << j["error"];
  EXPECT_NE(j["error"].get<std::string>().find("n2: no such key"),
            std::string::npos) << j["error"];
  backend_.locked([](auto& b) {
    b.cluster_errors.clear();
    b.cluster_missing.clear();
    return 0;
  });
  r = del(json{{"key", fp1}}.dump(), "/v1/keyring");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["fingerprint"], fp2);
}

TEST_F(AdminKeyring, ReservedEventAndQueryNamesAreRefused) {
  authorize();
  for (auto* target : {"/v1/event/_pekonode-keyring", "/v1/query/_pekonode-x",
                       "/v1/event/_pekonode"}) {
    auto r = client_->Post(target, "list", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << target << ": " << r->body;
    EXPECT_NE(r->body.find("reserved"), std::string::npos) << r->body;
  }
  auto r = client_->Post("/v1/event/_pekonod", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body; // not the reserved prefix
}

} // namespace
} // namespace pekonode::node
