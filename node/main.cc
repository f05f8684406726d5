// The pekonode node binary: one cluster member with its admin HTTP API.
// Flags are documented in README.md; bad flags or an address that cannot be
// bound end the process with one line on stderr and exit code 1.

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <caf/all.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "node/admin_http.h"
#include "node/init.h"
#include "node/node.h"
#include "node/options.h"
#include "transport/crypto.h"

DEFINE_string(name, "", "Unique node name (default: the host name).");
DEFINE_string(bind, "0.0.0.0:7946",
              "IP:PORT to bind for gossip (UDP); port 0 picks a free one.");
DEFINE_string(advertise, "",
              "IP:PORT other nodes use to reach this one (default: the bound "
              "address; with a wildcard bind, the first non-loopback "
              "interface address).");
DEFINE_string(join, "", "Seeds to join through: host:port,... (DNS names "
                        "allowed; retried with backoff).");
DEFINE_string(tags, "", "Node tags: k=v,k2=v2 (backslash escapes , = \\).");
DEFINE_string(profile, "lan", "Timing profile: lan, local or wan.");
DEFINE_string(admin, "", "IP:PORT of the admin HTTP API (off when empty).");
DEFINE_string(keyring_file, "",
              "File with cluster secrets, one per line, first is primary: "
              "every datagram is encrypted and authenticated.");
DEFINE_string(label, "", "Cluster label: nodes with another label are ignored.");
DEFINE_bool(fault_injection, false,
            "Enable POST /v1/faults (drop rate, blocked peers) for testing.");
DEFINE_uint64(seed, 0, "Random seed of the protocol (0: random).");
DEFINE_int32(threads, 2, "CAF scheduler threads.");

namespace {

using namespace pekonode;

[[noreturn]] void fail(const std::string& line) {
  std::cerr << "pekonode: " << line << std::endl;
  std::exit(1);
}

/// First non-loopback IPv4 (else IPv6) interface address; 127.0.0.1 if none.
std::string default_advertise_ip(bool ipv6) {
  ifaddrs* ifs = nullptr;
  std::string v4, v6;
  if (getifaddrs(&ifs) == 0) {
    for (auto* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_LOOPBACK)
          || !(i->ifa_flags & IFF_UP))
        continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      if (i->ifa_addr->sa_family == AF_INET && v4.empty()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
        v4 = buf;
      } else if (i->ifa_addr->sa_family == AF_INET6 && v6.empty()) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
          continue;
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        v6 = buf;
      }
    }
    freeifaddrs(ifs);
  }
  if (ipv6 && !v6.empty())
    return "[" + v6 + "]";
  if (!v4.empty())
    return v4;
  return ipv6 ? "[::1]" : "127.0.0.1";
}

/// Applies a timing profile to both protocol layers.
void apply_profile(node::profile p, node::node_config& cfg) {
  switch (p) {
    case node::profile::local:
      cfg.membership = membership::config::local();
      cfg.metadata = metadata::config::local();
      break;
    case node::profile::wan:
      cfg.membership = membership::config::wan();
      cfg.metadata = metadata::config::wan();
      break;
    default:
      cfg.membership = membership::config::lan();
      cfg.metadata = metadata::config::lan();
  }
}

} // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("pekonode --name=NAME --bind=IP:PORT "
                          "[--join=host:port,...] [--admin=IP:PORT] ...");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1)
    fail(std::string{"unexpected argument '"} + argv[1] + "'");
  FLAGS_logtostderr = FLAGS_logtostderr || FLAGS_log_dir.empty();
  google::InitGoogleLogging(argv[0]);

  node::raw_flags raw;
  raw.name = FLAGS_name;
  if (raw.name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    raw.name = host;
  }
  raw.bind = FLAGS_bind;
  raw.advertise = FLAGS_advertise;
  raw.join = FLAGS_join;
  raw.tags = FLAGS_tags;
  raw.profile = FLAGS_profile;
  raw.admin = FLAGS_admin;
  raw.keyring_file = FLAGS_keyring_file;
  raw.label = FLAGS_label;
  raw.fault_injection = FLAGS_fault_injection;
  node::node_options opts;
  if (auto err = node::parse_options(raw, opts); !err.empty())
    fail(err);
  if (FLAGS_threads < 1 || FLAGS_threads > 64)
    fail("--threads must be 1..64");

  node::node_config cfg;
  cfg.name = opts.name;
  cfg.tags = opts.tags;
  for (auto& s : opts.join)
    cfg.seeds.push_back(s.to_string());
  apply_profile(opts.profile, cfg);
  cfg.seed = FLAGS_seed;
  cfg.transport.bind = opts.bind.to_string();
  if (opts.advertise)
    cfg.transport.advertise = opts.advertise->to_string();
  else if (opts.bind.unspecified())
    cfg.transport.advertise = default_advertise_ip(opts.bind.ipv6) + ":"
                              + std::to_string(opts.bind.port);
  cfg.transport.label = opts.label;
  if (!opts.keyring_file.empty()) {
    auto ring = transport::load_keyring_file(opts.keyring_file);
    if (!ring)
      fail("--keyring_file: " + ring.message);
    cfg.transport.keys = std::move(*ring);
  }

  // Signals are taken synchronously by this thread (sigwait below).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  caf::actor_system_config sys_cfg;
  pekonode::init(sys_cfg);
  compat::set_worker_threads(sys_cfg, static_cast<size_t>(FLAGS_threads));
  compat::quiet_caf_logger(sys_cfg);
  caf::actor_system sys{sys_cfg};

  auto started = node::start_udp_node(sys, cfg);
  if (!started)
    fail("--bind=" + FLAGS_bind + ": " + node::describe(started.error()));
  node::facade api{sys, *started, cfg.name};

  std::unique_ptr<node::admin_server> admin;
  if (opts.admin) {
    node::admin_config acfg;
    acfg.fault_injection = opts.fault_injection;
    acfg.max_value_bytes = cfg.metadata.limits.max_value_bytes;
    admin = std::make_unique<node::admin_server>(api, acfg);
    if (auto err = admin->start(opts.admin->ip, opts.admin->port); !err.empty())
      fail("--admin=" + FLAGS_admin + ": " + err);
  }
  LOG(INFO) << cfg.name << ": running at " << started->advertise
            << (admin ? " admin on " + opts.admin->ip + ":"
                          + std::to_string(admin->port())
                      : std::string{});

  int sig = 0;
  sigwait(&sigs, &sig);
  LOG(INFO) << cfg.name << ": signal " << sig << ", leaving the cluster";
  api.shutting_down();
  api.leave();
  // The leave drain re-sends direct notices until every member has acked:
  // keep the socket open for all of it.
  std::this_thread::sleep_for(cfg.membership.leave_drain);
  if (admin)
    admin->stop();
  // The node's actors are linked: stopping one stops them all.
  caf::anon_send_exit(started->membership, caf::exit_reason::user_shutdown);
  return 0;
}
