#include "transport/udp_transport.h"

#include <glog/logging.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>

#include "transport/address.h"
#include "transport/shell.h"

namespace pekonode::transport {

namespace {

using detail::tx_rx_atom;

// Largest datagram the reader accepts; anything longer is truncated by the
// kernel, detected with MSG_TRUNC, and dropped as too_large.
constexpr size_t read_buffer = 65536;

// Counters the reader thread shares with the actor.
struct reader_shared {
  std::atomic<size_t> pending{0};    // datagrams sent to the mailbox, unprocessed
  std::atomic<uint64_t> overload{0}; // dropped because `pending` was full
  std::atomic<uint64_t> oversize{0}; // longer than read_buffer
  std::atomic<uint64_t> read_errors{0};
};

// Closes a descriptor unless released (socket handed over to the actor).
struct fd_owner {
  int fd = -1;
  explicit fd_owner(int x) : fd(x) {}
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() {
    if (fd >= 0)
      ::close(fd);
  }
  int release() {
    auto x = fd;
    fd = -1;
    return x;
  }
};

std::string errno_text(int err) {
  return std::strerror(err);
}

void reader_loop(int fd, int wake_fd, caf::actor_addr target,
                 std::shared_ptr<reader_shared> sh, size_t max_pending) {
  std::vector<char> buf(read_buffer);
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  for (;;) {
    fds[0].revents = fds[1].revents = 0;
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    if (fds[1].revents != 0 || (fds[0].revents & POLLNVAL) != 0)
      return;
    // Drain what is there, bounded so a flood cannot starve the wake check.
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      auto n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                          reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          sh->read_errors.fetch_add(1);
        break;
      }
      if (static_cast<size_t>(n) > buf.size()) {
        sh->oversize.fetch_add(1);
        continue;
      }
      if (sh->pending.load() >= max_pending) {
        sh->overload.fetch_add(1);
        continue;
      }
      auto hdl = caf::actor_cast<caf::actor>(target);
      if (!hdl)
        return; // the actor is gone
      sh->pending.fetch_add(1);
      caf::anon_send(hdl, tx_rx_atom::value,
                     to_address(reinterpret_cast<sockaddr*>(&from), len),
                     std::string(buf.data(), static_cast<size_t>(n)));
    }
  }
}

// IPv4 endpoint as an IPv4-mapped IPv6 endpoint, for dual-stack sockets.
endpoint map_v4(const endpoint& v4) {
  endpoint out;
  auto* in = reinterpret_cast<const sockaddr_in*>(&v4.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = in->sin_port;
  in6->sin6_addr.s6_addr[10] = 0xff;
  in6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&in6->sin6_addr.s6_addr[12], &in->sin_addr, 4);
  out.len = sizeof(sockaddr_in6);
  return out;
}

struct resolved {
  bool ok = false;
  endpoint ep;
  std::string error;
  time_point expires;
};

struct udp_state {
  caf::stateful_actor<udp_state>* self = nullptr;
  std::unique_ptr<detail::shell> sh;
  int fd = -1;
  int wake_fd = -1;
  int family = AF_INET;
  std::thread reader;
  std::shared_ptr<reader_shared> shared = std::make_shared<reader_shared>();
  address bound;
  address advertised;
  udp_config cfg;
  std::unordered_map<address, resolved> cache;

  explicit udp_state(caf::stateful_actor<udp_state>* ptr) : self(ptr) {}

  udp_state(const udp_state&) = delete;
  udp_state& operator=(const udp_state&) = delete;

  ~udp_state() {
    stop();
  }

  void init(udp_config config, int sock, int wake, address bound_addr) {
    cfg = std::move(config);
    fd = sock;
    wake_fd = wake;
    bound = std::move(bound_addr);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    family = ss.ss_family;
    advertised = advertise_address();
    auto seed = cfg.fault_seed != 0 ? cfg.fault_seed
                                    : (uint64_t{std::random_device{}()} << 32)
                                        ^ std::random_device{}();
    sh = std::make_unique<detail::shell>(
      wire{cfg.wire, framer{cfg.keys, cfg.label}}, seed);
    reader = std::thread{reader_loop, fd, wake_fd, self->address(), shared,
                         cfg.max_pending};
    int rcvbuf = 0;
    socklen_t optlen = sizeof(rcvbuf);
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen);
    LOG(INFO) << "transport " << cfg.wire.name << ": listening on " << bound
              << " (advertise " << advertised << ", "
              << (cfg.keys.empty() ? "plaintext" : "encrypted")
              << ", SO_RCVBUF " << rcvbuf << ")";
  }

  address advertise_address() const {
    if (cfg.advertise.empty())
      return bound;
    auto hp = parse_host_port(cfg.advertise);
    if (!hp)
      return cfg.advertise;
    if (hp->port == 0) {
      auto b = parse_host_port(bound);
      hp->port = b ? b->port : 0;
    }
    auto text = hp->host.find(':') != std::string::npos
                  ? "[" + hp->host + "]:" + std::to_string(hp->port)
                  : hp->host + ":" + std::to_string(hp->port);
    auto canon = canonicalize(text);
    return canon ? *canon : text;
  }

  void stop() {
    if (wake_fd >= 0) {
      uint64_t one = 1;
      auto ignored = ::write(wake_fd, &one, sizeof(one));
      static_cast<void>(ignored);
    }
    if (reader.joinable())
      reader.join();
    if (wake_fd >= 0)
      ::close(wake_fd);
    if (fd >= 0) {
      ::close(fd);
      LOG(INFO) << "transport " << cfg.wire.name << ": closed " << bound;
    }
    wake_fd = fd = -1;
  }

  // Resolves `to`, cached; literals are parsed once and kept for the ttl too.
  const resolved& lookup(const address& to) {
    auto now = self->clock().now();
    auto i = cache.find(to);
    if (i != cache.end() && now < i->second.expires)
      return i->second;
    if (cache.size() >= 4096)
      cache.clear(); // bounded; refilled on demand
    resolved r;
    auto eps = resolve(to);
    if (!eps) {
      r.error = eps.message;
      r.expires = now + cfg.resolve_retry;
    } else {
      for (auto& ep : *eps) {
        if (ep.family() == family) {
          r.ok = true;
          r.ep = ep;
          break;
        }
        if (family == AF_INET6 && ep.family() == AF_INET && !r.ok) {
          r.ok = true;
          r.ep = map_v4(ep);
        }
      }
      if (!r.ok)
        r.error = "no address of '" + to + "' matches the socket's family";
      r.expires = now + (r.ok ? cfg.resolve_ttl : cfg.resolve_retry);
    }
    return cache[to] = std::move(r);
  }

  void send(const outbound_list& out) {
    if (fd < 0)
      return;
    auto batch = sh->prepare(self, out);
    auto& st = sh->counters();
    for (auto& d : batch.datagrams) {
      auto& dest = lookup(d.to);
      if (!dest.ok) {
        ++st.send_errors;
        sh->count_unsent(self, d.to, "unresolved", d.messages, dest.error);
        continue;
      }
      auto n = ::sendto(fd, d.bytes.data(), d.bytes.size(),
                        MSG_DONTWAIT | MSG_NOSIGNAL, dest.ep.sa(), dest.ep.len);
      if (n < 0) {
        ++st.send_errors;
        sh->count_unsent(self, d.to, "sendto_failed", d.messages,
                        errno_text(errno));
        continue;
      }
      ++st.datagrams_out;
      st.bytes_out += static_cast<uint64_t>(n);
      st.messages_out += d.messages;
      VLOG(2) << "transport " << cfg.wire.name << ": sent " << n << " bytes ("
              << d.messages << " messages) to " << d.to;
    }
  }

  // Moves the reader thread's counters into the drop list.
  void collect_reader_counters() {
    if (auto n = shared->overload.exchange(0); n > 0)
      sh->count_drop(self, "(many)", "overload", n, "receive queue full");
    if (auto n = shared->oversize.exchange(0); n > 0)
      sh->count_drop(self, "(unknown)", "too_large", n, "datagram above 64 KiB");
    if (auto n = shared->read_errors.exchange(0); n > 0)
      sh->count_drop(self, "(unknown)", "read_error", n);
  }

  caf::behavior make_behavior() {
    return {
      [this](tx_rx_atom, const address& from, const std::string& bytes) {
        shared->pending.fetch_sub(1);
        collect_reader_counters();
        sh->on_datagram(self, from, bytes);
      },
      [this](tx_send_atom, const outbound_list& out) { send(out); },
      [this](tx_sub_atom, channel chan, caf::actor who) {
        sh->subscribe(chan, std::move(who));
      },
      [this](tx_addr_atom) -> address { return bound; },
      [this](tx_adv_atom) -> address { return advertised; },
      [this](tx_stats_atom) -> stats {
        collect_reader_counters();
        return sh->snapshot();
      },
      [this](tx_fault_atom) -> caf::result<double, std::vector<address>> {
        return {sh->drop_rate(), sh->blocked()};
      },
      [this](tx_fault_atom, double rate, const std::vector<address>& blocked) {
        sh->set_faults(rate, blocked);
        return true;
      },
      [this](tx_close_atom) {
        stop();
        self->quit();
      },
    };
  }
};

} // namespace

caf::expected<caf::actor> make_udp_transport(caf::actor_system& sys,
                                             udp_config cfg) {
  if (cfg.label.size() > max_label)
    return make_error(ec::field_too_large, "cluster label longer than "
                                         + std::to_string(max_label) + " bytes");
  auto eps = resolve(cfg.bind);
  if (!eps)
    return make_error(eps.code, "bind address: " + eps.message);
  const endpoint& ep = eps->front();
  fd_owner sock{::socket(ep.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    return make_error(ec::io_error, "cannot create UDP socket for " + cfg.bind
                                      + ": " + errno_text(errno));
  if (ep.family() == AF_INET6) {
    int off = 0; // dual stack when bound to [::]
    ::setsockopt(sock.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (cfg.recv_buffer > 0)
    ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVBUF, &cfg.recv_buffer,
                 sizeof(cfg.recv_buffer));
  if (::bind(sock.fd, ep.sa(), ep.len) != 0)
    return make_error(ec::io_error, "cannot bind UDP " + to_address(ep) + ": "
                                      + errno_text(errno));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(sock.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return make_error(ec::io_error, "getsockname failed: " + errno_text(errno));
  auto bound = to_address(reinterpret_cast<sockaddr*>(&ss), len);
  fd_owner wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  if (wake.fd < 0)
    return make_error(ec::io_error, "eventfd failed: " + errno_text(errno));
  // Owned by the spawn closure until the actor takes them over, so they are
  // closed even if the actor never starts.
  auto owner = std::make_shared<fd_owner>(sock.release());
  auto wake_owner = std::make_shared<fd_owner>(wake.release());
  auto hdl = sys.spawn(
    [cfg = std::move(cfg), owner, wake_owner, bound](
      caf::stateful_actor<udp_state>* self) mutable -> caf::behavior {
      self->state.init(std::move(cfg), owner->release(), wake_owner->release(),
                       bound);
      return self->state.make_behavior();
    });
  return hdl;
}

std::string describe(const caf::error& err) {
  if (err.category() == caf::atom("transport") && err.context().match_elements<std::string>())
    return to_string(static_cast<ec>(err.code())) + std::string{": "}
           + err.context().get_as<std::string>(0);
  return caf::to_string(err);
}

} // namespace pekonode::transport
