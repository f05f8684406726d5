#include "node/admin_http.h"

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "node/fake_admin_backend.h"

namespace pekonode::node {
namespace {

using json = nlohmann::json;

class AdminHttp : public ::testing::Test {
 protected:
  void start(admin_config cfg = {}) {
    cfg.max_value_bytes = 1024;
    cfg.body_slack_bytes = 512;
    cfg.max_key_bytes = 64;
    backend_.max_value = 1024;
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

  static json body_json(const httplib::Result& r) {
    return json::parse(r->body);
  }

  fake_admin_backend backend_;
  std::unique_ptr<admin_server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminHttp, HealthReflectsBackend) {
  start();
  auto r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  backend_.locked([](auto& b) { b.is_healthy = false; });
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["error"], "node stopping");
}

TEST_F(AdminHttp, SelfHasNameAddressIncarnationTags) {
  start();
  auto r = client_->Get("/v1/self");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
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

TEST_F(AdminHttp, UnavailableBackendGives503) {
  start();
  backend_.locked([](auto& b) { b.unavailable = true; });
  auto r = client_->Get("/v1/members");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(body_json(r)["error"], "node stopping");
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

  r = client_->Get("/v1/kv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_EQ(j["keys"][0]["key"], "alpha");
  EXPECT_EQ(j["keys"][0]["version"], version);
  EXPECT_EQ(j["keys"][0]["origin"], "node-a");
  EXPECT_EQ(j["keys"][0]["size"], 2);
  EXPECT_EQ(j["index"], 1);

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

TEST_F(AdminHttp, BadKeysAre400) {
  start();
  auto r = client_->Get("/v1/kv/bad%zz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("percent"),
            std::string::npos);
  r = client_->Get("/v1/kv/trunc%4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Put("/v1/kv/", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Put("/v1/kv/" + std::string(65, 'k'), "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("longer"),
            std::string::npos);
}

TEST_F(AdminHttp, ValueTooLargeForBackendIs400WithItsReason) {
  start();
  auto r = client_->Put("/v1/kv/big", std::string(1200, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(body_json(r)["error"].get<std::string>().find("exceeds"),
            std::string::npos);
}

TEST_F(AdminHttp, BodyBeyondSlackIs413Json) {
  start();
  auto r = client_->Put("/v1/kv/huge", std::string(4096, 'x'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(body_json(r).contains("error"));
  std::string stored;
  EXPECT_FALSE(backend_.kv_get("huge", stored).ok());
}

TEST_F(AdminHttp, LargeValueBodyReachesBackend) {
  // Raw values are sent as application/octet-stream (pekoctl does). Debian's
  // compiled httplib caps application/x-www-form-urlencoded bodies at 8 KiB,
  // so that content type is documented as unsuitable for values.
  admin_config cfg;
  cfg.max_value_bytes = 600 * 1024;
  backend_.max_value = cfg.max_value_bytes;
  server_ = std::make_unique<admin_server>(backend_, cfg);
  ASSERT_EQ(server_->start("127.0.0.1", 0), "");
  httplib::Client client{"127.0.0.1", server_->port()};
  std::string value(512 * 1024, 'v');
  auto r = client.Put("/v1/kv/big", value, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = client.Get("/v1/kv/big");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), value.size());
}

TEST_F(AdminHttp, WrongMethodIs405UnknownPathIs404) {
  start();
  auto r = client_->Post("/v1/members", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  r = client_->Post("/v1/kv/x", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = client_->Get("/v1/leave");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = client_->Get("/v1/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(body_json(r).contains("error"));
}

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
}

TEST_F(AdminHttp, LeaveRejoinAndTags) {
  start();
  auto r = client_->Post("/v1/leave", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client_->Post("/v1/rejoin", "", "text/plain");
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
  auto r = client_->Get("/v1/kv?watch=1&index=1&wait=200ms");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["index"], 1);
  EXPECT_TRUE(j["events"].empty());
}

TEST_F(AdminHttp, WatchWakesOnLaterWriteAndFiltersByPrefix) {
  start();
  std::thread writer([this] {
    backend_.kv_put("other/x", "1");
    backend_.kv_put("app/y", "2");
  });
  auto r = client_->Get("/v1/kv?watch=1&index=0&wait=10s&prefix=app/");
  writer.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = body_json(r);
  ASSERT_EQ(j["events"].size(), 1u) << r->body;
  EXPECT_EQ(j["events"][0]["key"], "app/y");
  EXPECT_EQ(j["events"][0]["index"], 2);
  EXPECT_EQ(j["index"], 2);
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
                  "/v1/kv?watch=1&wait=soon", "/v1/kv?watch=1&wait=5h"}) {
    auto r = client_->Get(q);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << q;
  }
}

TEST_F(AdminHttp, ConcurrentWatchesAreCapped) {
  admin_config cfg;
  cfg.threads = 4;
  cfg.max_watchers = 2;
  start(cfg);
  auto port = server_->port();
  auto watch = [port](int* status) {
    httplib::Client c{"127.0.0.1", port};
    c.set_read_timeout(20, 0);
    auto r = c.Get("/v1/kv?watch=1&index=0&wait=15s");
    *status = r ? r->status : -1;
  };
  int s1 = 0;
  int s2 = 0;
  std::thread w1(watch, &s1);
  std::thread w2(watch, &s2);
  ASSERT_TRUE(backend_.await_watchers(2));
  auto r = client_->Get("/v1/kv?watch=1&index=0&wait=1s");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  // Plain requests are still served while both watchers wait.
  r = client_->Get("/v1/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(backend_.kv_put("wake", "up").ok());
  w1.join();
  w2.join();
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(s2, 200);
}

TEST_F(AdminHttp, StopEndsALongPollPromptly) {
  start();
  int status = 0;
  auto port = server_->port();
  std::thread watcher([port, &status] {
    httplib::Client c{"127.0.0.1", port};
    c.set_read_timeout(30, 0);
    auto r = c.Get("/v1/kv?watch=1&index=0&wait=60s");
    status = r ? r->status : -1;
  });
  ASSERT_TRUE(backend_.await_watchers(1));
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  watcher.join();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds{5});
  EXPECT_EQ(status, 200);
  // Stopped for good: a second start is refused.
  EXPECT_NE(server_->start("127.0.0.1", 0), "");
}

TEST_F(AdminHttp, FaultsAre404WhenDisabled) {
  start();
  auto r = client_->Get("/v1/faults");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Post("/v1/faults", R"({"drop_rate":0.5})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.drop_rate; }), 0.0);
}

TEST_F(AdminHttp, FaultsSetAndValidatedWhenEnabled) {
  admin_config cfg;
  cfg.fault_injection = true;
  start(cfg);
  auto r = client_->Post(
    "/v1/faults", R"({"drop_rate":0.25,"blocked":["127.0.0.1:9","[::1]:8"]})",
    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  r = client_->Get("/v1/faults");
  ASSERT_TRUE(r);
  auto j = body_json(r);
  EXPECT_EQ(j["drop_rate"], 0.25);
  EXPECT_EQ(j["blocked"], json::array({"127.0.0.1:9", "[::1]:8"}));
  // Partial update keeps the blocked list.
  r = client_->Post("/v1/faults", R"({"drop_rate":0})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r)["blocked"].size(), 2u);
  for (auto* bad : {R"({"drop_rate":1.5})", R"({"drop_rate":-0.1})",
                    R"({"drop_rate":"x"})", R"({"blocked":["host:1"]})",
                    R"({"blocked":"1.2.3.4:5"})", R"({"drop":0.1})"}) {
    r = client_->Post("/v1/faults", bad, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
  EXPECT_EQ(backend_.locked([](auto& b) { return b.fault.drop_rate; }), 0.0);
}

TEST(AdminServer, BindFailureIsAnErrorNotACrash) {
  fake_admin_backend backend;
  admin_server first{backend, {}};
  ASSERT_EQ(first.start("127.0.0.1", 0), "");
  admin_server second{backend, {}};
  auto err = second.start("127.0.0.1", first.port());
  EXPECT_NE(err.find("cannot bind admin API to 127.0.0.1:" +
                     std::to_string(first.port())),
            std::string::npos)
    << err;
  EXPECT_EQ(second.port(), 0);
  admin_server third{backend, {}};
  EXPECT_NE(third.start("203.0.113.1", 0), "");  // not a local address
  second.stop();
  first.stop();
  first.stop();  // idempotent
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

} // namespace
} // namespace pekonode::node
