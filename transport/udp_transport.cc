#include "transport/udp_transport.h"

#include <glog/logging.h>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "transport/shell.h"

namespace pekonode::transport {

namespace detail {

// Counters the reader thread shares with the actor.
struct reader_shared {
  // Datagrams of at most `priority_bytes` sent to the mailbox (as urgent
  // messages), unprocessed.
  std::atomic<size_t> pending{0};
  // Bytes of larger datagrams sent to the mailbox (normal messages),
  // unprocessed.
  std::atomic<size_t> pending_bulk_bytes{0};
  std::atomic<uint64_t> overload{0}; // dropped because a queue bound was hit
  std::atomic<uint64_t> oversize{0}; // longer than read_buffer
  std::atomic<uint64_t> read_errors{0};
  std::atomic<uint64_t> kernel_drops{0}; // SO_RXQ_OVFL: receive buffer full
  size_t priority_bytes = 0;
  size_t max_pending = 0;
  size_t max_bulk_bytes = 0;
};

} // namespace detail

namespace {

// Largest datagram the reader accepts; anything longer is truncated by the
// kernel, detected with MSG_TRUNC, and dropped as too_large.
constexpr size_t read_buffer = 65536;

// Names waiting for their first lookup at once (beyond: not sent).
constexpr size_t max_waiting_names = 256;

// Cached destinations before idle ones are forgotten.
constexpr size_t max_destinations = 4096;

std::string errno_text(int err) {
  return std::strerror(err);
}

void reader_loop(int fd, int wake_fd, caf::actor_addr target,
                 std::shared_ptr<detail::reader_shared> sh,
                 std::shared_ptr<inbound_backlog> backlog) {
  std::vector<char> buf(read_buffer);
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  // SO_RXQ_OVFL: every datagram carries the socket's count of datagrams
  // the kernel dropped because the receive buffer was full.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint32_t))];
  uint32_t kernel_seen = 0;
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
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      auto n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
      // When it left the socket: what a probe's ack is judged by, however
      // long it then waits for the actor.
      auto arrived = std::chrono::steady_clock::now();
      socklen_t len = msg.msg_namelen;
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          sh->read_errors.fetch_add(1);
        break;
      }
      for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          uint32_t total = 0;
          std::memcpy(&total, CMSG_DATA(c), sizeof(total));
          sh->kernel_drops.fetch_add(static_cast<uint32_t>(total - kernel_seen));
          kernel_seen = total;
        }
      if (static_cast<size_t>(n) > buf.size()) {
        sh->oversize.fetch_add(1);
        continue;
      }
      const auto size = static_cast<size_t>(n);
      // Two classes, each bounded: datagrams of the size pekonode sends
      // (probes, acks, gossip, metadata) go ahead of larger ones, so a
      // flood of large datagrams can neither fill memory nor delay them.
      const bool priority = size <= sh->priority_bytes;
      if (priority ? sh->pending.load() >= sh->max_pending
                   : sh->pending_bulk_bytes.load() + size > sh->max_bulk_bytes) {
        sh->overload.fetch_add(1);
        continue;
      }
      auto hdl = caf::actor_cast<datagram_sink_actor>(target);
      if (!hdl)
        return; // the actor is gone
      auto from_addr = to_address(reinterpret_cast<sockaddr*>(&from), len);
      backlog->push(arrived, !priority);
      if (priority) {
        sh->pending.fetch_add(1);
        caf::anon_send<caf::message_priority::high>(
          hdl, tx_rx_atom_v, std::move(from_addr),
          std::string(buf.data(), size));
      } else {
        sh->pending_bulk_bytes.fetch_add(size);
        caf::anon_send(hdl, tx_rx_atom_v, std::move(from_addr),
                       std::string(buf.data(), size));
      }
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

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

} // namespace

// -- socket -----------------------------------------------------------------------

udp_socket::~udp_socket() {
  close_fd(fd);
  close_fd(wake_fd);
}

caf::expected<std::shared_ptr<udp_socket>> bind_udp(const udp_config& cfg) {
  if (cfg.label.size() > max_label)
    return make_error(ec::field_too_large, "cluster label longer than "
                                             + std::to_string(max_label)
                                             + " bytes");
  // Bind addresses are IP literals (the node's options check them); a host
  // name here is resolved once, before any actor exists.
  auto eps = resolve(cfg.bind);
  if (!eps)
    return make_error(eps.code, "bind address: " + eps.message);
  const endpoint& ep = eps->front();
  auto sock = std::make_shared<udp_socket>();
  sock->fd = ::socket(ep.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock->fd < 0)
    return make_error(ec::io_error, "cannot create UDP socket for " + cfg.bind
                                      + ": " + errno_text(errno));
  if (ep.family() == AF_INET6) {
    int off = 0; // dual stack when bound to [::]
    ::setsockopt(sock->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (cfg.recv_buffer > 0)
    ::setsockopt(sock->fd, SOL_SOCKET, SO_RCVBUF, &cfg.recv_buffer,
                 sizeof(cfg.recv_buffer));
  int on = 1; // kernel drop counts (reported as "kernel_overflow")
  ::setsockopt(sock->fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
  if (::bind(sock->fd, ep.sa(), ep.len) != 0)
    return make_error(ec::io_error, "cannot bind UDP " + to_address(ep) + ": "
                                      + errno_text(errno));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(sock->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return make_error(ec::io_error, "getsockname failed: " + errno_text(errno));
  sock->bound = to_address(reinterpret_cast<sockaddr*>(&ss), len);
  sock->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (sock->wake_fd < 0)
    return make_error(ec::io_error, "eventfd failed: " + errno_text(errno));
  return sock;
}

// -- actor state ------------------------------------------------------------------

udp_state::udp_state(datagram_transport_actor::stateful_pointer<udp_state> ptr)
  : self(ptr), shared(std::make_shared<detail::reader_shared>()) {
}

udp_state::~udp_state() {
  stop();
}

void udp_state::init(udp_config config, std::shared_ptr<udp_socket> sock) {
  cfg = std::move(config);
  fd = sock->fd;
  wake_fd = sock->wake_fd;
  bound = sock->bound;
  sock->release();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  family = ss.ss_family;
  advertised = advertise_address(cfg.advertise, bound);
  auto seed = cfg.fault_seed != 0 ? cfg.fault_seed
                                  : (uint64_t{std::random_device{}()} << 32)
                                      ^ std::random_device{}();
  if (cfg.wire.epoch == 0)
    cfg.wire.epoch = random_epoch();
  if (auto hp = parse_host_port(bound)) {
    bound_port = hp->port;
    wildcard = hp->host == "0.0.0.0" || hp->host == "::";
  }
  detail::shell_env env;
  env.is_local = [this](const address& dest) { return is_local(dest); };
  env.keyring_file = cfg.keyring_file;
  sh = std::make_unique<detail::shell>(
    wire{cfg.wire, framer{cfg.keys, cfg.label}}, seed, std::move(env));
  shared->priority_bytes = cfg.priority_datagram;
  shared->max_pending = cfg.max_pending;
  shared->max_bulk_bytes = cfg.max_pending_bulk_bytes;
  if (!cfg.backlog)
    cfg.backlog = std::make_shared<inbound_backlog>();
  reader = std::thread{reader_loop, fd, wake_fd, self->address(), shared,
                       cfg.backlog};
  int rcvbuf = 0;
  socklen_t optlen = sizeof(rcvbuf);
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen);
  LOG(INFO) << "transport " << cfg.wire.name << ": listening on " << bound
            << " (advertise " << advertised << ", "
            << (cfg.keys.empty() ? "plaintext" : "encrypted") << ", SO_RCVBUF "
            << rcvbuf << ")";
}

void udp_state::refresh_local_addresses() {
  local_addrs.clear();
  local_refreshed = now();
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return;
  for (auto* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr)
      continue;
    endpoint ep;
    if (i->ifa_addr->sa_family == AF_INET) {
      std::memcpy(&ep.storage, i->ifa_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&ep.storage)->sin_port = htons(bound_port);
      ep.len = sizeof(sockaddr_in);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(&ep.storage, i->ifa_addr, sizeof(sockaddr_in6));
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ep.storage);
      in6->sin6_port = htons(bound_port);
      in6->sin6_scope_id = 0;
      ep.len = sizeof(sockaddr_in6);
    } else {
      continue;
    }
    local_addrs.insert(to_address(ep));
  }
  ::freeifaddrs(list);
}

bool udp_state::is_local(const address& dest) {
  if (dest.empty())
    return false;
  if (dest == bound || dest == advertised)
    return true;
  if (!wildcard)
    return false;
  // Bound to every interface: any address of this host at our port.
  auto ep = parse_endpoint(dest);
  if (!ep)
    return false;
  if (ep->family() == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ep->storage);
    if (ntohs(in->sin_port) != bound_port)
      return false;
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
      return true; // all of 127.0.0.0/8 is this host
  } else if (ep->family() == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ep->storage);
    if (ntohs(in6->sin6_port) != bound_port)
      return false;
  } else {
    return false;
  }
  if (local_addrs.count(dest) > 0)
    return true;
  // Interfaces change (DHCP, new links): re-read them at most every 5 s.
  if (now() - local_refreshed < std::chrono::seconds(5)
      && local_refreshed != time_point{})
    return false;
  refresh_local_addresses();
  return local_addrs.count(dest) > 0;
}

address advertise_address(const std::string& advertise, const address& bound) {
  if (advertise.empty())
    return bound;
  auto hp = parse_host_port(advertise);
  if (!hp)
    return advertise;
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

void udp_state::stop() {
  if (wake_fd >= 0) {
    uint64_t one = 1;
    auto ignored = ::write(wake_fd, &one, sizeof(one));
    static_cast<void>(ignored);
  }
  if (reader.joinable())
    reader.join();
  close_fd(wake_fd);
  if (fd >= 0) {
    close_fd(fd);
    LOG(INFO) << "transport " << cfg.wire.name << ": closed " << bound;
  }
}

endpoint udp_state::pick(const std::vector<address>& addrs, bool& ok) const {
  ok = false;
  endpoint mapped;
  bool have_mapped = false;
  for (auto& a : addrs) {
    auto ep = parse_endpoint(a);
    if (!ep)
      continue;
    if (ep->family() == family) {
      ok = true;
      return *ep;
    }
    if (family == AF_INET6 && ep->family() == AF_INET && !have_mapped) {
      mapped = map_v4(*ep);
      have_mapped = true;
    }
  }
  ok = have_mapped;
  return mapped;
}

void udp_state::transmit(const destination& d, const address& to,
                         const std::string& bytes, size_t messages) {
  if (fd < 0)
    return; // closed while a lookup was running
  auto& st = sh->counters();
  if (!d.ok) {
    ++st.send_errors;
    sh->count_unsent(now(), to, "unresolved", messages, d.error);
    return;
  }
  // Sealed for the address it goes to, as the receiver sees it.
  auto sealed = sh->seal(now(), d.ep_text, bytes, messages);
  if (!sealed) {
    ++st.send_errors;
    return;
  }
  auto n = ::sendto(fd, sealed->data(), sealed->size(),
                    MSG_DONTWAIT | MSG_NOSIGNAL, d.ep.sa(), d.ep.len);
  if (n < 0) {
    ++st.send_errors;
    sh->count_unsent(now(), to, "sendto_failed", messages, errno_text(errno));
    return;
  }
  ++st.datagrams_out;
  st.bytes_out += static_cast<uint64_t>(n);
  st.messages_out += messages;
  VLOG(2) << "transport " << cfg.wire.name << ": sent " << n << " bytes ("
          << messages << " messages) to " << to;
}

void udp_state::send_datagram(const address& to, std::string bytes,
                              size_t messages) {
  auto t = now();
  auto i = dests.find(to);
  if (i == dests.end()) {
    if (dests.size() >= max_destinations) {
      // Bounded: forget what no lookup or datagram is waiting on.
      for (auto j = dests.begin(); j != dests.end();)
        j = j->second.resolving ? std::next(j) : dests.erase(j);
    }
    destination d;
    // IP literals parse without any lookup and never expire.
    if (auto ep = parse_endpoint(to)) {
      bool ok = false;
      d.ep = pick({to_address(*ep)}, ok);
      d.ep_text = to_address(d.ep);
      d.ok = ok;
      if (!ok)
        d.error = "the address family of '" + to + "' does not match the socket";
      d.literal = true;
    }
    i = dests.emplace(to, std::move(d)).first;
    if (!i->second.literal) {
      i->second.waiting.emplace_back(std::move(bytes), messages);
      start_lookup(to);
      return;
    }
  }
  auto& d = i->second;
  if (!d.literal && t >= d.expires && !d.resolving) {
    if (d.ok) {
      // Still usable: send with the old answer while it is refreshed.
      start_lookup(to);
    } else {
      d.waiting.emplace_back(std::move(bytes), messages);
      start_lookup(to);
      return;
    }
  }
  if (d.resolving && !d.ok) {
    if (d.waiting.size() < cfg.max_waiting) {
      d.waiting.emplace_back(std::move(bytes), messages);
      return;
    }
    ++sh->counters().send_errors;
    sh->count_unsent(t, to, "unresolved", messages,
                     "too many datagrams waiting for the name to resolve");
    return;
  }
  transmit(d, to, bytes, messages);
}

void udp_state::start_lookup(const address& name) {
  auto& d = dests[name];
  size_t waiting_names = 0;
  for (auto& [n, x] : dests)
    waiting_names += x.resolving ? 1 : 0;
  if (waiting_names >= max_waiting_names) {
    resolution r;
    r.name = name;
    r.error = "too many names being resolved at once";
    on_lookup(name, r);
    return;
  }
  d.resolving = true;
  if (!resolver)
    resolver = spawn_linked_resolver(self, cfg.resolve);
  self->request(resolver, cfg.resolve_timeout, tx_resolve_atom_v,
                resolutions{resolution{name, {}, {}}})
    .then(
      [this, name](resolutions& rs) {
        on_lookup(name, rs.empty() ? resolution{name, {}, "no answer"}
                                   : std::move(rs.front()));
      },
      [this, name](caf::error& err) {
        on_lookup(name, resolution{name, {}, "lookup failed: "
                                               + caf::to_string(err)});
      });
}

void udp_state::on_lookup(const address& name, const resolution& r) {
  auto i = dests.find(name);
  if (i == dests.end())
    return;
  auto& d = i->second;
  d.resolving = false;
  bool ok = false;
  auto ep = pick(r.addrs, ok);
  if (ok) {
    d.ok = true;
    d.ep = ep;
    d.ep_text = to_address(ep);
    d.error.clear();
    d.expires = now() + cfg.resolve_ttl;
  } else {
    // A refresh that fails keeps nothing stale: the name is gone.
    d.ok = false;
    d.error = !r.error.empty() ? r.error
                               : "no address of '" + name
                                   + "' matches the socket's family";
    d.expires = now() + cfg.resolve_retry;
  }
  auto waiting = std::move(d.waiting);
  d.waiting.clear();
  for (auto& [bytes, messages] : waiting)
    transmit(d, name, bytes, messages);
}

void udp_state::send(const outbound_list& out) {
  if (fd < 0)
    return;
  auto batch = sh->prepare(now(), out);
  for (auto& d : batch.datagrams)
    send_datagram(d.to, std::move(d.bytes), d.messages);
}

void udp_state::collect_reader_counters() {
  auto t = now();
  if (auto n = shared->overload.exchange(0); n > 0)
    sh->count_drop(t, "(many)", "overload", n, "receive queue full");
  if (auto n = shared->oversize.exchange(0); n > 0)
    sh->count_drop(t, "(unknown)", "too_large", n, "datagram above 64 KiB");
  if (auto n = shared->read_errors.exchange(0); n > 0)
    sh->count_drop(t, "(unknown)", "read_error", n);
  if (auto n = shared->kernel_drops.exchange(0); n > 0)
    sh->count_drop(t, "(unknown)", "kernel_overflow", n,
                   "socket receive buffer full (raise --recv_buffer or "
                   "net.core.rmem_max)");
}

datagram_transport_actor::behavior_type udp_state::make_behavior() {
  return {
    [this](tx_rx_atom, const address& from, const std::string& bytes) {
      const bool bulk = bytes.size() > shared->priority_bytes;
      if (!bulk)
        shared->pending.fetch_sub(1);
      else
        shared->pending_bulk_bytes.fetch_sub(bytes.size());
      collect_reader_counters();
      // The stamp leaves the backlog only once the datagram's messages are
      // in their subscribers' mailboxes (membership_actor.h relies on it).
      auto received = cfg.backlog->front(bulk, now());
      detail::deliver_datagram(self, *sh, from, bytes, received);
      cfg.backlog->pop(bulk);
    },
    [this](tm_wake_atom) { detail::release_delayed(self, *sh); },
    [this](tx_send_atom, const outbound_list& out) { send(out); },
    [this](tx_sub_atom, channel chan, inbound_sink_actor who) {
      sh->subscribe(chan, std::move(who));
    },
    [this](tx_addr_atom) { return bound; },
    [this](tx_adv_atom) { return advertised; },
    [this](tx_stats_atom) {
      collect_reader_counters();
      auto s = sh->snapshot();
      s.inbound_pending = shared->pending.load();
      return s;
    },
    [this](tx_fault_atom) { return sh->current_faults(); },
    [this](tx_fault_atom, const faults& f) { sh->set_faults(f); },
    [this](tx_keyring_atom,
           const keyring_request& req) -> caf::result<keyring_reply> {
      auto r = sh->keyring_command(req);
      if (!r)
        return make_error(r.code, r.message);
      return std::move(*r);
    },
    [this](tx_close_atom) {
      stop();
      self->quit(caf::exit_reason::user_shutdown);
    },
  };
}

datagram_transport_actor::behavior_type
udp_transport_behavior(datagram_transport_actor::stateful_pointer<udp_state> self,
                       udp_config cfg, std::shared_ptr<udp_socket> sock) {
  self->state.init(std::move(cfg), std::move(sock));
  return self->state.make_behavior();
}

caf::expected<transport_actor> make_udp_transport(caf::actor_system& sys,
                                                  udp_config cfg) {
  auto sock = bind_udp(cfg);
  if (!sock)
    return sock.error();
  // The socket stays owned by `sock` (closed if the actor never starts)
  // until the actor's state takes it over.
  transport_actor hdl = sys.spawn(udp_transport_behavior, std::move(cfg),
                                  std::move(*sock));
  return hdl;
}

} // namespace pekonode::transport
