#pragma once
// The pekonode binary as a service: its signals (SIGINT/SIGTERM stop it,
// SIGHUP reloads) and its notifications to the service manager (systemd's
// sd_notify: READY, RELOADING, STOPPING, STATUS, WATCHDOG). Notifications are
// no-ops when the process was not started with $NOTIFY_SOCKET. Not for
// embedders: a library does not own signals.

#include <signal.h>

#include <chrono>
#include <functional>
#include <string>

namespace pekonode::node::service {

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and returns that
/// set. Call it in main() before any other thread starts (threads inherit
/// the mask), so only wait_for_stop() ever takes these signals.
sigset_t block_service_signals();

/// READY=1 with a STATUS= line: the node is bound and serving.
void notify_ready(const std::string& status);

/// RELOADING=1 (before a reload) and READY=1 (after it).
void notify_reloading();
void notify_reloaded();

/// STOPPING=1: the node is leaving the cluster.
void notify_stopping();

/// The watchdog interval the service manager asked for (WatchdogSec=, via
/// $WATCHDOG_USEC for this process), or zero when there is none.
std::chrono::microseconds watchdog_interval();

/// Blocks until SIGINT or SIGTERM (in `sigs`, see block_service_signals)
/// and returns it. Each SIGHUP runs `on_reload`, between RELOADING=1 and
/// READY=1. With a watchdog, `healthy()` is checked every half interval and
/// WATCHDOG=1 is sent only while it holds, so a node whose actors stop
/// answering is restarted by the service manager.
int wait_for_stop(const sigset_t& sigs, const std::function<void()>& on_reload,
                  const std::function<bool()>& healthy);

} // namespace pekonode::node::service
