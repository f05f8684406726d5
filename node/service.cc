#include "node/service.h"

#include <systemd/sd-daemon.h>

#include <glog/logging.h>

#include <cerrno>
#include <ctime>

namespace pekonode::node::service {

namespace {

void notify(const std::string& state) {
  // unset_environment = 0: a reload or the watchdog notifies again later.
  int r = sd_notify(0, state.c_str());
  if (r < 0) {
    LOG_EVERY_N(WARNING, 100) << "sd_notify(" << state.substr(0, 40)
                              << "): error " << -r;
  }
}

// STATUS= of the last READY=1, repeated after a reload.
std::string ready_status = "running";

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r')
      c = ' ';
  return s;
}

} // namespace

sigset_t block_service_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

void notify_ready(const std::string& status) {
  ready_status = one_line(status);
  notify("READY=1\nSTATUS=" + ready_status);
}

void notify_reloading() {
  notify("RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_reloaded() {
  notify("READY=1\nSTATUS=" + ready_status);
}

void notify_stopping() {
  notify("STOPPING=1\nSTATUS=leaving the cluster");
}

std::chrono::microseconds watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0)
    return std::chrono::microseconds{usec};
  return std::chrono::microseconds{0};
}

int wait_for_stop(const sigset_t& sigs, const std::function<void()>& on_reload,
                  const std::function<bool()>& healthy) {
  auto watchdog = watchdog_interval();
  auto half = watchdog / 2;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(half.count() / 1000000);
  ts.tv_nsec = static_cast<long>((half.count() % 1000000) * 1000);
  bool was_healthy = true;
  for (;;) {
    int sig = 0;
    if (watchdog.count() > 0) {
      sig = sigtimedwait(&sigs, nullptr, &ts);
      if (sig < 0 && errno == EAGAIN) {
        bool ok = healthy();
        if (ok)
          notify("WATCHDOG=1");
        else if (was_healthy)
          LOG(WARNING) << "watchdog: the node does not answer; not "
                          "confirming liveness to the service manager";
        was_healthy = ok;
        continue;
      }
      if (sig < 0)
        continue; // EINTR
    } else if (sigwait(&sigs, &sig) != 0) {
      continue;
    }
    if (sig != SIGHUP)
      return sig;
    LOG(INFO) << "SIGHUP: reloading the configuration";
    notify_reloading();
    on_reload();
    notify_reloaded();
  }
}

} // namespace pekonode::node::service
