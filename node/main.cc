// The pekonode node binary: one cluster member with its admin HTTP API.
// Flags are documented in README.md (and pekonode(1), generated from this
// table); --config=FILE and --flagfile=FILE supply them from files. Bad flags
// or an address that cannot be bound end the process with one line on stderr
// and exit code 1. SIGINT/SIGTERM leave the cluster; SIGHUP reloads --config and
// --keyring_file.

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <caf/all.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "common/caf_compat.h"
#include "common/text.h"
#include "node/admin_http.h"
#include "node/admin_http_guard.h"
#include "node/config_flags.h"
#include "node/event_feed.h"
#include "node/event_handler.h"
#include "node/event_log.h"
#include "node/init.h"
#include "node/log_sink.h"
#include "node/node.h"
#include "node/options.h"
#include "node/service.h"
#include "node/version.h"
#include "transport/crypto.h"

DEFINE_string(name, "", "Unique node name (default: the host name).");
DEFINE_string(bind, "0.0.0.0:7946",
              "IP:PORT to bind for gossip (UDP); port 0 picks a free one.");
DEFINE_string(advertise, "",
              "IP:PORT other nodes use to reach this one (default: the bound "
              "address; with a wildcard bind, the first non-loopback "
              "interface address).");
DEFINE_string(join, "", "Seeds to join through: host:port,... (DNS names "
                        "allowed; retried with backoff); dns:NAME[:PORT] "
                        "joins every address NAME resolves to and looks it "
                        "up again every --join_dns_refresh.");
DEFINE_string(join_dns_refresh, "30s",
              "How often dns:NAME seeds of --join are looked up again "
              "(1s to 1h).");
DEFINE_string(tags, "", "Node tags: k=v,k2=v2 (backslash escapes , = \\).");
DEFINE_string(profile, "lan", "Timing profile: lan, local or wan.");
DEFINE_string(admin, "", "IP:PORT of the admin HTTP API (off when empty).");
DEFINE_string(keyring_file, "",
              "File with cluster keys (32 random bytes each, base64 or hex, "
              "from 'pekoctl keygen'), one per line, first is primary: every "
              "datagram is encrypted and authenticated. Keep it mode 600. "
              "Keyring changes through /v1/keyring are written back to it; "
              "SIGHUP re-reads it.");
DEFINE_bool(insecure_plaintext, false,
            "Allow a non-loopback --bind without --keyring_file: gossip in "
            "plaintext, so anyone who reaches the port can rewrite "
            "membership and every key.");
DEFINE_string(label, "", "Cluster label: nodes with another label are ignored.");
DEFINE_bool(fault_injection, false,
            "Enable POST /v1/faults (drop rate, blocked peers) for testing.");
DEFINE_uint64(seed, 0, "Random seed of the protocol (0: random).");
DEFINE_int32(threads, 2, "CAF scheduler threads.");
DEFINE_string(admin_token_file, "",
              "File holding the admin API's bearer token (16+ visible "
              "characters): every mutating request must send "
              "'Authorization: Bearer <token>'. Keep it mode 600.");
DEFINE_bool(admin_token_reads, false,
            "With --admin_token_file: reads need the token too (the health "
            "probes /v1/health and /v1/health/ready stay open).");
DEFINE_string(admin_allowed_hosts, "",
              "Host names, besides IP addresses and localhost, that requests "
              "to the admin API may name in their Host header: name,... "
              "(others are refused, against DNS rebinding).");
DEFINE_bool(admin_insecure_allow_remote, false,
            "Allow --admin on a non-loopback address without "
            "--admin_token_file: anyone who reaches it controls the node.");
DEFINE_string(admin_tls_cert, "",
              "PEM certificate (chain) file: serve the admin API over HTTPS "
              "(needs --admin_tls_key).");
DEFINE_string(admin_tls_key, "",
              "PEM private key file for --admin_tls_cert.");
DEFINE_string(config, "",
              "JSON file of flag values keyed by flag name, e.g. "
              "{\"bind\": \"127.0.0.1:7946\", \"tags\": {\"role\": \"web\"}}; "
              "flags on the command line win; SIGHUP re-reads it.");
DEFINE_string(data_dir, "",
              "Directory of this node's durable state (metadata store, HLC "
              "high-water, membership snapshot, boot epoch), created mode "
              "0700 if missing; a restarted node serves its data at once and "
              "rejoins the peers it knew. Empty: memory only.");
DEFINE_string(log_format, "text",
              "Log lines on stderr: text (glog) or json (one object per "
              "line).");

DEFINE_uint64(event_log_size, pekonode::node::event_log::default_capacity,
              "Events the node keeps for GET /v1/events (16 to 1000000): a "
              "stream resuming from an older index starts with a reset "
              "line.");

DEFINE_string(event_handler, "",
              "[type[,type...][:filter]=]PROGRAM run by /bin/sh -c for each "
              "matching event (repeat the flag for several): types member, "
              "key, user, query or exact ones (member-join, member-dead, "
              "key-put, ...); filter: member-name regex, key prefix or user "
              "event name. The event is in PEKONODE_* variables and on "
              "stdin. SIGHUP reloads it from --config.");
DEFINE_string(event_handler_timeout, "30s",
              "An event handler running longer gets SIGTERM, then SIGKILL "
              "3 s later (1s to 1h).");
DEFINE_uint64(event_handler_concurrency, 4,
              "Event handlers running at once (1 to 64).");
DEFINE_uint64(event_handler_queue, 256,
              "Event handler runs waiting for a slot (1 to 100000); more are "
              "dropped and counted in pekonode_event_handler_dropped_total.");

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

bool read_whole_file(const std::string& path, std::string& out) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return false;
  std::stringstream s;
  s << in.rdbuf();
  out = s.str();
  return !in.bad();
}

/// The admin API's protection from its flags; fails on bad combinations.
void configure_admin_protection(const node::ip_endpoint& admin,
                                node::admin_config& acfg) {
  if (!FLAGS_admin_token_file.empty()) {
    std::string warning;
    if (auto err = node::load_token_file(FLAGS_admin_token_file, acfg.token,
                                         warning);
        !err.empty())
      fail("--admin_token_file: " + err);
    if (!warning.empty())
      LOG(WARNING) << acfg.node_name << ": --admin_token_file: " << warning;
  } else if (FLAGS_admin_token_reads) {
    fail("--admin_token_reads needs --admin_token_file");
  }
  acfg.token_reads = FLAGS_admin_token_reads;
  std::stringstream hosts{FLAGS_admin_allowed_hosts};
  for (std::string h; std::getline(hosts, h, ',');) {
    std::string parsed;
    bool ip = false;
    if (h.empty() || !node::parse_host_header(h, parsed, ip).empty()
        || h.find(':') != std::string::npos)
      fail("--admin_allowed_hosts: " + quote(h, 64)
           + " is not a host name (names only, without port)");
    acfg.allowed_hosts.push_back(parsed);
  }
  if (FLAGS_admin_tls_cert.empty() != FLAGS_admin_tls_key.empty())
    fail("--admin_tls_cert and --admin_tls_key go together");
  if (!FLAGS_admin_tls_cert.empty()) {
    if (!read_whole_file(FLAGS_admin_tls_cert, acfg.tls_cert_pem))
      fail("--admin_tls_cert: cannot read " + quote(FLAGS_admin_tls_cert));
    if (!read_whole_file(FLAGS_admin_tls_key, acfg.tls_key_pem))
      fail("--admin_tls_key: cannot read " + quote(FLAGS_admin_tls_key));
  }
  if (node::is_loopback_ip(admin.ip))
    return;
  if (acfg.token.empty() && !FLAGS_admin_insecure_allow_remote)
    fail("--admin=" + admin.to_string()
         + " is not a loopback address and has no token: set "
           "--admin_token_file=PATH, or pass --admin_insecure_allow_remote "
           "to let anyone who reaches it control this node");
  if (acfg.token.empty())
    LOG(WARNING) << acfg.node_name << ": admin API on " << admin.to_string()
                 << " without a token (--admin_insecure_allow_remote): "
                    "anyone who reaches it controls this node";
  else if (acfg.tls_cert_pem.empty())
    LOG(WARNING) << acfg.node_name << ": admin API on " << admin.to_string()
                 << " without TLS: the token crosses the network in clear "
                    "text (set --admin_tls_cert and --admin_tls_key)";
}

/// --help: pekonode's own flags; --helpfull: then every other library's.
void print_help(bool full) {
  std::cout << "pekonode " << PEKONODE_VERSION
            << ": one member of a pekonode cluster.\n\n"
               "usage: pekonode --name=NAME --bind=IP:PORT "
               "[--join=host:port,...] [--admin=IP:PORT] [flags]\n\n"
               "flags:\n";
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  auto ours = [](const gflags::CommandLineFlagInfo& f) {
    return f.filename.size() >= 12
           && f.filename.compare(f.filename.size() - 12, 12, "node/main.cc")
                == 0;
  };
  for (auto& f : all)
    if (ours(f))
      std::cout << gflags::DescribeOneFlag(f);
  if (!full) {
    std::cout << "\nLogging (glog) and flag-library flags: pekonode "
                 "--helpfull\n";
    return;
  }
  std::cout << "\nflags of the libraries (glog, gflags):\n";
  for (auto& f : all)
    if (!ours(f))
      std::cout << gflags::DescribeOneFlag(f);
}

/// Applies a timing profile to the protocol layers.
void apply_profile(node::profile p, node::node_config& cfg) {
  switch (p) {
    case node::profile::local:
      cfg.membership = membership::config::local();
      cfg.metadata = metadata::config::local();
      cfg.user_events = userevents::config::local();
      break;
    case node::profile::wan:
      cfg.membership = membership::config::wan();
      cfg.metadata = metadata::config::wan();
      cfg.user_events = userevents::config::wan();
      break;
    default:
      cfg.membership = membership::config::lan();
      cfg.metadata = metadata::config::lan();
      cfg.user_events = userevents::config::lan();
  }
}

} // namespace

int main(int argc, char** argv) {
  // Before any thread starts: only wait_for_stop() below takes these signals
  // (a SIGHUP during start-up waits there instead of killing the process).
  auto sigs = node::service::block_service_signals();
  gflags::SetUsageMessage("pekonode --name=NAME --bind=IP:PORT "
                          "[--join=host:port,...] [--admin=IP:PORT] ...");
  gflags::SetVersionString(PEKONODE_VERSION);
  // Help and version before gflags: its own --help lists every library's
  // flags first and exits 1.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--")
      break;
    if (a == "--version" || a == "-version") {
      std::cout << "pekonode " << PEKONODE_VERSION << "\n";
      return 0;
    }
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpshort") {
      print_help(false);
      return 0;
    }
    if (a == "--helpfull" || a == "-helpfull") {
      print_help(true);
      return 0;
    }
  }
  // gflags keeps the last of a repeated flag: collect them all first.
  auto handler_flags = node::repeated_flag_values(argc, argv, "event_handler");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (handler_flags.size() > 1) {
    std::string joined;
    for (auto& h : handler_flags)
      joined += (joined.empty() ? "" : "\n") + h;
    gflags::SetCommandLineOption("event_handler", joined.c_str());
  }
  if (argc > 1)
    fail(std::string{"unexpected argument '"} + argv[1] + "'");
  node::flag_state loaded;
  if (auto err = node::apply_config(FLAGS_config, loaded); !err.empty())
    fail(err);
  if (auto err = node::init_logging(argv[0], FLAGS_log_format); !err.empty())
    fail(err);

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
  if (FLAGS_event_log_size < 16 || FLAGS_event_log_size > 1000000)
    fail("--event_log_size must be 16..1000000");
  node::handler_config hcfg;
  std::vector<node::handler_spec> handlers;
  {
    std::chrono::milliseconds timeout{};
    if (auto err = node::parse_duration(FLAGS_event_handler_timeout,
                                        std::chrono::seconds(1),
                                        std::chrono::hours(1), timeout);
        !err.empty())
      fail("--event_handler_timeout: " + err);
    hcfg.timeout = timeout;
    if (FLAGS_event_handler_concurrency < 1
        || FLAGS_event_handler_concurrency > 64)
      fail("--event_handler_concurrency must be 1..64");
    hcfg.max_concurrent = FLAGS_event_handler_concurrency;
    if (FLAGS_event_handler_queue < 1 || FLAGS_event_handler_queue > 100000)
      fail("--event_handler_queue must be 1..100000");
    hcfg.queue_size = FLAGS_event_handler_queue;
    if (auto err = node::parse_handler_list(FLAGS_event_handler, handlers);
        !err.empty())
      fail("--event_handler: " + err);
  }

  node::node_config cfg;
  cfg.name = opts.name;
  cfg.tags = opts.tags;
  for (auto& s : opts.join)
    cfg.seeds.push_back(s.to_string());
  apply_profile(opts.profile, cfg);
  cfg.seed = FLAGS_seed;
  {
    std::chrono::milliseconds refresh{};
    if (auto err = node::parse_duration(FLAGS_join_dns_refresh,
                                        std::chrono::seconds(1),
                                        std::chrono::hours(1), refresh);
        !err.empty())
      fail("--join_dns_refresh: " + err);
    cfg.dns_refresh = refresh;
  }
  cfg.transport.bind = opts.bind.to_string();
  if (opts.advertise)
    cfg.transport.advertise = opts.advertise->to_string();
  else if (opts.bind.unspecified())
    cfg.transport.advertise = default_advertise_ip(opts.bind.ipv6) + ":"
                              + std::to_string(opts.bind.port);
  cfg.transport.label = opts.label;
  if (!opts.keyring_file.empty()) {
    std::string warning;
    auto ring = transport::load_keyring_file(opts.keyring_file, &warning);
    if (!ring)
      fail("--keyring_file: " + ring.message);
    if (!warning.empty())
      LOG(WARNING) << cfg.name << ": --keyring_file: " << warning;
    cfg.transport.keys = std::move(*ring);
    // Run-time keyring changes are written back here; SIGHUP re-reads it.
    cfg.transport.keyring_file = opts.keyring_file;
  }
  // Secure by default: plaintext gossip only on loopback, or when asked for.
  if (cfg.transport.keys.empty() && !node::is_loopback_ip(opts.bind.ip)) {
    if (!FLAGS_insecure_plaintext)
      fail("--bind=" + opts.bind.to_string()
           + " is not a loopback address and has no --keyring_file: make a "
             "key with 'pekoctl keygen', put it in a file of mode 600 and "
             "pass --keyring_file=PATH on every node, or pass "
             "--insecure_plaintext to let anyone who reaches the port "
             "rewrite membership and every key");
    LOG(WARNING) << cfg.name << ": gossip on " << opts.bind.to_string()
                 << " in plaintext (--insecure_plaintext): anyone who "
                    "reaches the port can rewrite membership and every key";
  }

  // The admin API's settings are checked before anything starts.
  node::admin_config acfg;
  if (opts.admin) {
    acfg.fault_injection = opts.fault_injection;
    acfg.max_value_bytes = cfg.metadata.limits.max_value_bytes;
    acfg.expect_peers = !cfg.seeds.empty();
    acfg.node_name = cfg.name;
    configure_admin_protection(*opts.admin, acfg);
  }
  // The data dir before anything runs: a refusal is one line and exit 1.
  if (!FLAGS_data_dir.empty()) {
    auto wall = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count());
    if (auto err = node::open_data_dir(FLAGS_data_dir, {opts.label, cfg.name},
                                       wall, cfg.durable);
        !err.empty())
      fail(err);
    LOG(INFO) << cfg.name << ": data dir " << FLAGS_data_dir << ": "
              << cfg.durable.records->size() << " entries, boot epoch "
              << cfg.durable.boot_epoch << ", incarnation "
              << cfg.durable.incarnation << ", " << cfg.durable.peers.size()
              << " known peers";
    if (!cfg.durable.peers.empty())
      acfg.expect_peers = true;
    // Sealed into every encrypted frame: the stored epoch grows with every
    // start, so a restart never reuses the sequence space of an earlier one.
    cfg.transport.wire.epoch = cfg.durable.boot_epoch;
  }
  // A peer that closes a socket early must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  caf::actor_system_config sys_cfg;
  pekonode::init(sys_cfg);
  compat::set_worker_threads(sys_cfg, static_cast<size_t>(FLAGS_threads));
  compat::quiet_caf_logger(sys_cfg);
  // CAF's default work-stealing workers poll for work (spinning, then
  // sleeping 50 us, then 10 ms) after every message, so a node woken a few
  // times per second never settles: an idle node cost ~12% of a core. The
  // sharing policy's workers block on one queue until work arrives (idle:
  // <1%). A node runs a handful of actors; stealing buys it nothing.
  compat::use_sharing_scheduler(sys_cfg);
  caf::actor_system sys{sys_cfg};

  auto started = node::start_udp_node(sys, cfg);
  if (!started)
    fail("--bind=" + FLAGS_bind + ": " + node::describe(started.error()));
  node::facade api{sys, *started, cfg.name};
  // The event log outlives the node's actors (they are stopped before main
  // returns) and the admin server.
  static node::event_log events{static_cast<size_t>(FLAGS_event_log_size)};
  hcfg.self_name = cfg.name;
  hcfg.self_addr = started->advertise;
  node::handler_runner runner{hcfg};
  for (auto& h : handlers)
    LOG(INFO) << cfg.name << ": event handler " << quote(h.text, 200);
  runner.set_handlers(std::move(handlers));
  // Handlers see every event, the first member-join of this node included.
  auto runner_listener = events.add_listener(
    [&runner](const node::event_record& ev) {
      // A query's handlers run for its answer (attach_user_events), once.
      if (ev.type != node::event_types::query)
        runner.submit(ev);
    });
  acfg.extra_metrics.push_back(&runner.stats());
  node::attach_event_feed(sys, *started, events);
  node::attach_user_events(sys, *started, events, runner);
  acfg.events = &events;

  std::unique_ptr<node::admin_server> admin;
  if (opts.admin) {
    admin = std::make_unique<node::admin_server>(api, acfg);
    if (auto err = admin->start(opts.admin->ip, opts.admin->port); !err.empty())
      fail("--admin=" + FLAGS_admin + ": " + err);
  }
  LOG(INFO) << cfg.name << ": running at " << started->advertise
            << (admin ? " admin on " + opts.admin->ip + ":"
                          + std::to_string(admin->port())
                      : std::string{});

  node::service::notify_ready("running at " + started->advertise);

  // SIGHUP: what can change at run time (see config_flags.h).
  node::config_reloader reloader{std::move(loaded)};
  node::add_log_level_settings(reloader);
  reloader.add("event_handler", [&runner, &cfg](const std::string& text) {
    std::vector<node::handler_spec> next;
    if (auto err = node::parse_handler_list(text, next); !err.empty())
      return err;
    LOG(INFO) << cfg.name << ": event handlers reloaded: " << next.size()
              << " handler(s)";
    for (auto& h : next)
      LOG(INFO) << cfg.name << ": event handler " << quote(h.text, 200);
    runner.set_handlers(std::move(next));
    return std::string{};
  });
  reloader.add("tags", [&api](const std::string& text) {
    node::tag_map tags;
    if (auto err = node::parse_tags(text, tags); !err.empty())
      return err;
    auto r = api.set_tags(tags);
    return r.ok() ? std::string{} : r.detail;
  });
  // SIGHUP also re-reads --keyring_file (a broken file keeps the keys).
  auto reload_keyring = [&api, &cfg, keyring_file = opts.keyring_file] {
    if (keyring_file.empty())
      return;
    node::keyring_view view;
    auto r = api.keyring(node::keyring_op::reload, {}, view);
    if (!r.ok())
      LOG(WARNING) << cfg.name << ": SIGHUP: --keyring_file not reloaded, "
                   << "the keys stay as they were: " << r.detail;
  };
  int sig = node::service::wait_for_stop(
    sigs, [&reloader, &reload_keyring] {
      reloader.reload();
      reload_keyring();
    },
    [&api] {
      node::self_view me;
      return api.self(me).ok();
    });
  node::service::notify_stopping();
  LOG(INFO) << cfg.name << ": signal " << sig << ", leaving the cluster";
  api.shutting_down();
  api.leave();
  // The leave drain re-sends direct notices until every member has acked:
  // keep the socket open for all of it.
  std::this_thread::sleep_for(cfg.membership.leave_drain);
  if (started->snapshots) {
    // The last membership snapshot (with the incarnation of the leave).
    caf::scoped_actor self{sys};
    self->request(started->snapshots, std::chrono::seconds(5),
                  node::nd_snap_atom_v)
      .receive([](bool) {},
               [&cfg](const caf::error& e) {
                 LOG(WARNING) << cfg.name
                              << ": last membership snapshot not written: "
                              << caf::to_string(e);
               });
  }
  if (admin)
    admin->stop();
  events.remove_listener(runner_listener);
  runner.stop();
  // The node's actors are linked: stopping one stops them all.
  caf::anon_send_exit(started->membership, caf::exit_reason::user_shutdown);
  if (cfg.durable.store) {
    // The committer finishes what was submitted and answers the (stopped)
    // actors while the actor system still runs; then the store closes.
    sys.await_all_actors_done();
    cfg.durable = {};
  }
  return 0;
}
