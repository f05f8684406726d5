#include "node/admin_backend.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>
#include <thread>

#include "common/host_port.h"

namespace pekonode::node {

namespace {

/// Reads made by the defaults before they give up on a changing store.
constexpr int read_attempts = 5;

/// Poll period of the default join_wait.
constexpr auto join_poll = std::chrono::milliseconds{50};

/// The store's newest change index (kv_watch from "infinity", no wait).
result head_index(admin_backend& b, uint64_t& out) {
  watch_batch head;
  auto r = b.kv_watch(std::numeric_limits<uint64_t>::max(), duration::zero(),
                      head);
  if (!r.ok())
    return r;
  // A backend that echoes after_index would report "infinity": no index.
  out = head.last_index == std::numeric_limits<uint64_t>::max()
          ? 0
          : head.last_index;
  return r;
}

result changing(const char* what) {
  return result::error(result_code::unavailable,
                       std::string{what} + " kept changing during "
                         + std::to_string(read_attempts)
                         + " read attempts; retry");
}

/// Every "ip:port" a seed's host resolves to (one for an IP literal).
std::vector<address> resolve_seed(const std::string& seed) {
  std::vector<address> out;
  host_port_text parts;
  if (!split_host_port(seed, parts).empty())
    return out;
  std::string host{parts.host};
  std::string port{parts.port};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0)
    return out;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ai->ai_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
      out.push_back(std::string{buf} + ":" + port);
    } else if (ai->ai_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
      out.push_back("[" + std::string{buf} + "]:" + port);
    }
  }
  freeaddrinfo(res);
  return out;
}

std::string seconds_text(duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

} // namespace

std::string join_evidence(const std::string& self_name,
                          const std::vector<member_view>& before,
                          const std::vector<member_view>& now,
                          const std::vector<address>& seed_addrs) {
  std::set<std::string> alive_before;
  for (auto& m : before)
    if (m.state == "alive")
      alive_before.insert(m.name);
  std::string fresh;
  for (auto& m : now) {
    if (m.name == self_name || m.state != "alive")
      continue;
    if (std::find(seed_addrs.begin(), seed_addrs.end(), m.addr)
        != seed_addrs.end())
      return m.name;
    if (fresh.empty() && alive_before.count(m.name) == 0)
      fresh = m.name;
  }
  return fresh;
}

result admin_backend::kv_read(const std::string& key, kv_value_view& out) {
  for (int attempt = 0; attempt < read_attempts; ++attempt) {
    uint64_t before = 0;
    uint64_t after = 0;
    std::string value;
    std::vector<kv_entry_view> entries;
    if (auto r = head_index(*this, before); !r.ok())
      return r;
    if (auto r = kv_get(key, value); !r.ok())
      return r;
    if (auto r = kv_list(entries); !r.ok())
      return r;
    if (auto r = head_index(*this, after); !r.ok())
      return r;
    if (before != after)
      continue;
    auto i = std::find_if(entries.begin(), entries.end(),
                          [&](auto& e) { return e.key == key; });
    if (i == entries.end())
      continue;
    out.value = std::move(value);
    out.version = i->version;
    out.origin = i->origin;
    out.index = before;
    return result::success();
  }
  return changing("the key");
}

result admin_backend::kv_scan(const std::string& prefix, bool with_values,
                              uint64_t max_value_bytes, kv_scan_view& out) {
  for (int attempt = 0; attempt < read_attempts; ++attempt) {
    uint64_t before = 0;
    std::vector<kv_entry_view> all;
    if (auto r = head_index(*this, before); !r.ok())
      return r;
    if (auto r = kv_list(all); !r.ok())
      return r;
    std::vector<kv_entry_view> picked;
    uint64_t total = 0;
    for (auto& e : all) {
      if (e.key.compare(0, prefix.size(), prefix) != 0)
        continue;
      total += e.size;
      picked.push_back(std::move(e));
    }
    std::sort(picked.begin(), picked.end(),
              [](auto& a, auto& b) { return a.key < b.key; });
    if (!with_values) {
      out = kv_scan_view{before, std::move(picked), {}};
      return result::success();
    }
    if (total > max_value_bytes)
      return result::error(
        result_code::invalid,
        std::to_string(picked.size()) + " values of "
          + std::to_string(total) + " bytes in all exceed the limit of "
          + std::to_string(max_value_bytes)
          + " bytes for one recursive read; narrow the prefix or read the "
            "keys one by one");
    std::vector<std::string> values;
    values.reserve(picked.size());
    bool vanished = false;
    for (auto& e : picked) {
      std::string v;
      auto r = kv_get(e.key, v);
      if (r.code == result_code::not_found) {
        vanished = true;
        break;
      }
      if (!r.ok())
        return r;
      values.push_back(std::move(v));
    }
    uint64_t after = 0;
    if (auto r = head_index(*this, after); !r.ok())
      return r;
    if (vanished || before != after)
      continue;
    out = kv_scan_view{before, std::move(picked), std::move(values)};
    return result::success();
  }
  return changing("the keys under the prefix");
}

result admin_backend::keyring(keyring_op op, const std::string& key,
                              keyring_view& out) {
  static_cast<void>(op);
  static_cast<void>(key);
  out = keyring_view{};
  return result::error(result_code::unavailable,
                       "this node offers no keyring commands");
}

result admin_backend::cluster_keyring(keyring_op op, const std::string& key,
                                      duration timeout,
                                      cluster_keyring_view& out) {
  static_cast<void>(op);
  static_cast<void>(key);
  static_cast<void>(timeout);
  out = cluster_keyring_view{};
  return result::error(result_code::unavailable,
                       "this node offers no cluster-wide keyring commands");
}

result admin_backend::status(node_status& out) {
  self_view me;
  if (auto r = self(me); !r.ok())
    return r;
  std::vector<member_view> ms;
  if (auto r = members(ms); !r.ok())
    return r;
  out = node_status{};
  out.state = "alive";
  for (auto& m : ms) {
    if (m.name == me.name)
      out.state = m.state;
    else if (m.state == "alive")
      ++out.alive_peers;
  }
  return result::success();
}

result admin_backend::join_wait(const std::vector<std::string>& seeds,
                                duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  self_view me;
  if (auto r = self(me); !r.ok())
    return r;
  std::vector<member_view> before;
  if (auto r = members(before); !r.ok())
    return r;
  if (auto r = join(seeds); !r.ok())
    return r;
  std::vector<address> addrs;
  for (auto& s : seeds)
    for (auto& a : resolve_seed(s))
      addrs.push_back(a);
  for (;;) {
    std::vector<member_view> now;
    if (auto r = members(now); !r.ok())
      return r;
    auto who = join_evidence(me.name, before, now, addrs);
    if (!who.empty()) {
      auto i = std::find_if(now.begin(), now.end(),
                            [&](auto& m) { return m.name == who; });
      size_t alive = 0;
      for (auto& m : now)
        alive += m.state == "alive" ? 1 : 0;
      return result::success("joined: " + who + " (" + i->addr
                             + ") answered; " + std::to_string(alive)
                             + " members alive");
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= duration::zero())
      break;
    std::this_thread::sleep_for(std::min<duration>(left, join_poll));
  }
  std::string list;
  for (auto& s : seeds)
    list += (list.empty() ? "" : ", ") + s;
  return result::error(result_code::timeout,
                       "no seed answered within " + seconds_text(timeout)
                         + " (" + list
                         + "); the node keeps retrying in the background");
}

result admin_backend::kv_write(const std::string& key, std::string value,
                               const kv_write_options& opts,
                               kv_write_view& out) {
  if (!opts.cas.empty() || opts.replicas != 1)
    return result::error(result_code::invalid,
                         "this node cannot do compare-and-set or replicas");
  auto r = opts.del ? kv_del(key) : kv_put(key, std::move(value));
  if (r.ok()) {
    out.version = r.detail;
    out.acked = out.wanted = 1;
    out.applied = true;
  }
  return r;
}

result admin_backend::snapshot_save(uint64_t, std::string&) {
  return result::error(result_code::unavailable,
                       "snapshots are not supported by this node");
}

result admin_backend::snapshot_restore(std::string, restore_view&) {
  return result::error(result_code::unavailable,
                       "snapshots are not supported by this node");
}

result admin_backend::force_leave(const std::string&) {
  return result::error(result_code::unavailable,
                       "force-leave is not supported by this node");
}

} // namespace pekonode::node
