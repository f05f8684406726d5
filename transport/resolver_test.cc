#include "transport/resolver.h"

#include <gtest/gtest.h>

#include <future>

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;

class Resolver : public testing::Test {
protected:
  Resolver() : sys_(config()), self_(sys_) {}

  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg;
    compat::set_worker_threads(cfg, 2);
    return cfg;
  }

  caf::expected<resolutions> ask(const resolver_actor& r, resolutions names,
                                 caf::timespan timeout = 5s) {
    caf::expected<resolutions> out{caf::sec::request_timeout};
    self_->request(r, timeout, tx_resolve_atom_v, std::move(names))
      .receive([&](resolutions& rs) { out = std::move(rs); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  caf::actor_system sys_;
  caf::scoped_actor self_;
};

TEST_F(Resolver, LiteralsResolveAndBadNamesReportWhy) {
  auto r = spawn_resolver(sys_);
  auto rs = ask(r, {{"127.0.0.1:7946", {}, {}},
                    {"[::1]:1", {}, {}},
                    {"no-port", {}, {}},
                    {"no-such-host.invalid:1", {}, {}}});
  ASSERT_TRUE(rs) << caf::to_string(rs.error());
  ASSERT_EQ(rs->size(), 4u);
  EXPECT_EQ((*rs)[0].addrs, std::vector<address>{"127.0.0.1:7946"});
  EXPECT_TRUE((*rs)[0].error.empty());
  EXPECT_EQ((*rs)[1].addrs, std::vector<address>{"[::1]:1"});
  EXPECT_TRUE((*rs)[2].addrs.empty());
  EXPECT_NE((*rs)[2].error.find("PORT"), std::string::npos) << (*rs)[2].error;
  EXPECT_TRUE((*rs)[3].addrs.empty());
  EXPECT_FALSE((*rs)[3].error.empty());
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
}

// The lookup runs on the resolver's own thread: a caller bounds its wait
// with the request timeout, and the scheduler's threads stay free.
TEST_F(Resolver, AHangingLookupBlocksOnlyTheResolver) {
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  auto r = spawn_resolver(sys_, [opened](std::string_view name)
                                  -> result<std::vector<endpoint>> {
    opened.wait();
    return resolve(name);
  });
  auto first = ask(r, {{"127.0.0.1:1", {}, {}}}, 100ms);
  EXPECT_FALSE(first);
  // Ordinary actors still run while the lookup hangs.
  auto echo = sys_.spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
  int got = 0;
  self_->request(echo, 5s, 41).receive([&](int x) { got = x + 1; },
                                       [](caf::error&) {});
  EXPECT_EQ(got, 42);
  gate.set_value();
  auto second = ask(r, {{"127.0.0.1:2", {}, {}}});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->front().addrs, std::vector<address>{"127.0.0.1:2"});
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

} // namespace
} // namespace pekonode::transport
