// The service glue against a stand-in service manager: a Unix datagram
// socket named by $NOTIFY_SOCKET, as systemd provides it. Real signals, real
// sockets; every wait is bounded by the socket's receive timeout.

#include "node/service.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <random>
#include <cstdlib>
#include <string>
#include <thread>

namespace pekonode::node::service {
namespace {

class manager {
public:
  manager() {
    // An abstract socket ("@name"): no file-system path length limit. The
    // abstract namespace may be shared with parallel test runs whose pid is
    // the same (PID namespaces), hence the random part.
    name_ = "pekonode-notify-" + std::to_string(getpid()) + "-"
            + std::to_string(std::random_device{}());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    name_.copy(addr.sun_path + 1, sizeof(addr.sun_path) - 2);
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1
                                      + name_.size());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    timeval tv{10, 0}; // a broken build fails in 10 s instead of hanging
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", ("@" + name_).c_str(), 1);
  }
  ~manager() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd_);
  }
  /// A notification already queued, or "".
  std::string try_next() {
    char buf[4096];
    auto n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
  }
  /// The next notification, or "" on timeout.
  std::string next() {
    char buf[4096];
    auto n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
  }

private:
  std::string name_;
  int fd_ = -1;
};

// Blocked once for the whole binary, before main() and any thread starts.
const sigset_t& signals() {
  static sigset_t sigs = block_service_signals();
  return sigs;
}
const sigset_t& blocked_at_start = signals();

TEST(Service, NotificationsReachTheServiceManager) {
  manager m;
  notify_ready("running at 127.0.0.1:7946\nsecond line");
  EXPECT_EQ(m.next(), "READY=1\nSTATUS=running at 127.0.0.1:7946 second line");
  notify_reloading();
  EXPECT_EQ(m.next(), "RELOADING=1\nSTATUS=reloading the configuration");
  notify_reloaded();
  EXPECT_EQ(m.next(), "READY=1\nSTATUS=running at 127.0.0.1:7946 second line");
  notify_stopping();
  EXPECT_EQ(m.next(), "STOPPING=1\nSTATUS=leaving the cluster");
}

TEST(Service, NoWatchdogUnlessAskedForThisProcess) {
  unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(watchdog_interval().count(), 0);
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  EXPECT_EQ(watchdog_interval().count(), 0); // meant for another process
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(watchdog_interval().count(), 200000);
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

TEST(Service, HupReloadsTermStopsAndTheWatchdogFollowsHealth) {
  manager m;
  setenv("WATCHDOG_USEC", "100000", 1); // a health check every 50 ms
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  std::atomic<bool> healthy{true};
  std::atomic<int> reloads{0};
  std::atomic<int> health_checks{0};
  std::atomic<int> pings_after_drain{-1};
  auto wait_checks = [&](int more) {
    int target = health_checks.load() + more;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (health_checks.load() < target
           && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    EXPECT_GE(health_checks.load(), target);
  };
  // The stand-in manager: waits for a ping, sends HUP, watches the reload,
  // turns the node unhealthy, checks the pings stop, then sends TERM.
  std::thread driver([&] {
    auto expect = [&](const std::string& prefix) {
      for (int i = 0; i < 50; ++i) {
        auto msg = m.next();
        if (msg.rfind(prefix, 0) == 0)
          return true;
        if (msg.empty())
          return false;
      }
      return false;
    };
    EXPECT_TRUE(expect("WATCHDOG=1"));
    kill(getpid(), SIGHUP);
    EXPECT_TRUE(expect("RELOADING=1\n"));
    EXPECT_TRUE(expect("READY=1\n"));
    healthy = false;
    wait_checks(2); // every check from here on sees an unhealthy node
    while (!m.try_next().empty()) {
    }
    wait_checks(3);
    int pings = 0;
    for (auto msg = m.try_next(); !msg.empty(); msg = m.try_next())
      pings += msg == "WATCHDOG=1";
    pings_after_drain = pings;
    kill(getpid(), SIGTERM);
  });
  int sig = wait_for_stop(
    signals(), [&] { ++reloads; },
    [&] {
      ++health_checks;
      return healthy.load();
    });
  driver.join();
  EXPECT_EQ(sig, SIGTERM);
  EXPECT_EQ(reloads.load(), 1);
  EXPECT_EQ(pings_after_drain.load(), 0);
}

TEST(Service, WithoutAServiceManagerNotifyingIsHarmless) {
  unsetenv("NOTIFY_SOCKET");
  notify_ready("x");
  notify_stopping();
  SUCCEED();
}

} // namespace
} // namespace pekonode::node::service
