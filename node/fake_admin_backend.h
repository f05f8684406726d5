#pragma once
// An in-memory admin_backend for tests of the HTTP layer and of pekoctl: a
// map of keys with a change log and a condition variable for watches, and a
// member list that leave/rejoin/join change. It is not a metadata store: no
// HLC, no gossip, versions are a plain counter. It keeps the defaults of
// kv_read, kv_scan, status and join_wait, so tests exercise those too.

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "node/admin_backend.h"

namespace pekonode::node {

class fake_admin_backend : public admin_backend {
 public:
  /// Largest value accepted; larger ones fail with `invalid`.
  size_t max_value = 1024;
  /// Change log entries kept; older ones are discarded (watch -> truncated).
  size_t history = 100;

  // Recorded calls and switches; touch them through locked() once a server
  // runs (its threads read and write them).
  std::vector<std::string> joined;
  int leaves = 0;
  int rejoins = 0;
  bool is_healthy = true;
  bool unavailable = false;
  self_view me{"node-a", "127.0.0.1:7946", 3, {{"role", "db"}}};
  std::vector<member_view> member_list{
    {"node-b", "127.0.0.1:7950", "suspect", 2, {}},
    {"node-a", "127.0.0.1:7946", "alive", 3, {{"role", "db"}}},
  };
  std::string metadata;
  bool has_metadata = false;
  fault_settings fault;
  /// Keyring of the fake (keys by text, primary first); empty: plaintext.
  std::vector<std::string> ring;
  int keyring_calls = 0;
  /// kv_watch calls so far (the server's watch thread shares one call
  /// among all its long-polls).
  uint64_t kv_watch_calls = 0;
  /// Seeds that "answer" a join: join() adds each as an alive member.
  std::set<std::string> reachable_seeds;

  result self(self_view& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (unavailable)
      return result::error(result_code::unavailable, "node stopping");
    out = me;
    return result::success();
  }

  result members(std::vector<member_view>& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (unavailable)
      return result::error(result_code::unavailable, "node stopping");
    out = member_list;
    return result::success();
  }

  result kv_list(std::vector<kv_entry_view>& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    out.clear();
    for (auto& [k, v] : kv_)
      out.push_back({k, v.version, me.name, v.value.size(), 1000});
    return result::success();
  }

  result kv_get(const std::string& key, std::string& value) override {
    std::lock_guard<std::mutex> g{mtx_};
    auto i = kv_.find(key);
    if (i == kv_.end())
      return result::error(result_code::not_found, "no such key");
    value = i->second.value;
    return result::success();
  }

  result kv_put(const std::string& key, std::string value) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (value.size() > max_value)
      return result::error(result_code::invalid,
                           "value of " + std::to_string(value.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(max_value));
    auto version = std::to_string(++clock_) + ".0@" + me.name;
    kv_[key] = {std::move(value), version};
    record(key, watch_event::change::put, version);
    return result::success(version);
  }

  result kv_del(const std::string& key) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (kv_.erase(key) == 0)
      return result::error(result_code::not_found, "no such key");
    auto version = std::to_string(++clock_) + ".0@" + me.name;
    record(key, watch_event::change::del, version);
    return result::success(version);
  }

  /// kv_write with replicas: how many other nodes "hold" each write (the
  /// live members other than `me` bound it too).
  uint32_t replica_acks = 100;

  result kv_write(const std::string& key, std::string value,
                  const kv_write_options& opts, kv_write_view& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    out = {};
    out.wanted = opts.replicas;
    if (opts.replicas == 0 || opts.replicas > 16)
      return result::error(result_code::invalid, "replicas must be 1..16");
    auto i = kv_.find(key);
    if (!opts.cas.empty()) {
      bool ok = opts.cas == "0" ? i == kv_.end()
                                : i != kv_.end() && i->second.version == opts.cas;
      if (!ok) {
        out.current = i == kv_.end() ? "" : i->second.version;
        return result::error(result_code::precondition_failed,
                             "cas_mismatch: key '" + key + "' "
                               + (out.current.empty()
                                    ? "has no live value"
                                    : "is at version " + out.current));
      }
    }
    uint32_t live = 1;
    for (auto& m : member_list)
      if (m.name != me.name && m.state == "alive")
        ++live;
    if (opts.replicas > live)
      return result::error(result_code::unavailable,
                           std::to_string(opts.replicas)
                             + " replicas asked but only "
                             + std::to_string(live) + " nodes are live");
    if (opts.del && i == kv_.end())
      return result::error(result_code::not_found, "no such key");
    if (!opts.del && value.size() > max_value)
      return result::error(result_code::invalid, "value too large");
    auto version = std::to_string(++clock_) + ".0@" + me.name;
    if (opts.del) {
      kv_.erase(i);
      record(key, watch_event::change::del, version);
    } else {
      kv_[key] = {std::move(value), version};
      record(key, watch_event::change::put, version);
    }
    out.version = version;
    out.applied = true;
    out.acked = std::min(opts.replicas, 1 + std::min(replica_acks, live - 1));
    if (out.acked < opts.replicas)
      return result::error(result_code::timeout,
                           "replicas_timeout: " + std::to_string(out.acked)
                             + " of " + std::to_string(opts.replicas)
                             + " nodes held key '" + key + "'");
    return result::success(version);
  }

  result kv_watch(uint64_t after_index, duration timeout,
                  watch_batch& out) override {
    std::unique_lock<std::mutex> g{mtx_};
    ++kv_watch_calls;
    if (timeout > duration::zero()) {
      ++active_watches_;
      cv_.notify_all();
      cv_.wait_for(g, timeout, [&] { return last_index_ > after_index; });
      --active_watches_;
    }
    out = {};
    out.last_index = last_index_;
    if (after_index < last_index_ && !log_.empty() &&
        log_.front().index > after_index + 1)
      out.truncated = true;
    for (auto& ev : log_)
      if (ev.index > after_index)
        out.events.push_back(ev);
    return result::success();
  }

  result metadata_get(std::string& value) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (!has_metadata)
      return result::error(result_code::not_found, "none");
    value = metadata;
    return result::success();
  }

  result metadata_put(std::string value) override {
    std::lock_guard<std::mutex> g{mtx_};
    metadata = std::move(value);
    has_metadata = true;
    return result::success(std::to_string(++clock_) + ".0@" + me.name);
  }

  result join(const std::vector<std::string>& seeds) override {
    std::lock_guard<std::mutex> g{mtx_};
    joined = seeds;
    for (auto& s : seeds)
      if (reachable_seeds.count(s) != 0)
        member_list.push_back({"peer@" + s, s, "alive", 1, {}});
    return result::success("contacted " + std::to_string(seeds.size()) +
                           " seeds");
  }

  result leave() override {
    std::lock_guard<std::mutex> g{mtx_};
    ++leaves;
    set_own_state("left");
    return result::success("left");
  }

  result rejoin() override {
    std::lock_guard<std::mutex> g{mtx_};
    ++rejoins;
    set_own_state("alive");
    return result::success("rejoined");
  }

  result set_tags(const tag_map& tags) override {
    std::lock_guard<std::mutex> g{mtx_};
    me.tags = tags;
    return result::success();
  }

  result faults(fault_settings& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    out = fault;
    return result::success();
  }

  result set_faults(const fault_settings& settings) override {
    std::lock_guard<std::mutex> g{mtx_};
    fault = settings;
    return result::success();
  }

  // Keyring: keys by text, primary first; a key's fingerprint is 16 hex
  // digits of its std::hash (the fake needs names, not cryptography).
  static std::string fake_fingerprint(const std::string& key) {
    static const char* hex = "0123456789abcdef";
    auto h = static_cast<uint64_t>(std::hash<std::string>{}(key));
    std::string fp;
    for (int i = 15; i >= 0; --i)
      fp.push_back(hex[(h >> (4 * i)) & 15]);
    return fp;
  }

  result keyring(keyring_op op, const std::string& key,
                 keyring_view& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    ++keyring_calls;
    out = keyring_view{};
    auto find = [&]() -> int {
      for (size_t i = 0; i < ring.size(); ++i)
        if (ring[i] == key || fake_fingerprint(ring[i]) == key)
          return static_cast<int>(i);
      return -1;
    };
    if (ring.empty())
      return result::error(result_code::invalid,
                           "this node gossips in plaintext and has no keyring");
    switch (op) {
      case keyring_op::list:
      case keyring_op::reload:
        break;
      case keyring_op::install:
        if (key.size() != 44)
          return result::error(result_code::invalid, "not a key");
        if (find() < 0) {
          ring.push_back(key);
          out.changed = true;
        }
        break;
      case keyring_op::use: {
        int i = find();
        if (i < 0)
          return result::error(result_code::not_found, "no such key installed");
        if (i > 0) {
          std::rotate(ring.begin(), ring.begin() + i, ring.begin() + i + 1);
          out.changed = true;
        }
        break;
      }
      case keyring_op::remove: {
        int i = find();
        if (i < 0)
          return result::error(result_code::not_found, "no such key installed");
        if (i == 0)
          return result::error(result_code::invalid,
                               "the primary key cannot be removed");
        ring.erase(ring.begin() + i);
        out.changed = true;
        break;
      }
    }
    for (size_t i = 0; i < ring.size(); ++i)
      out.keys.push_back(keyring_key_view{fake_fingerprint(ring[i]), i == 0});
    return result::success();
  }

  /// Cluster-wide keyring commands: this fake is one node of the cluster
  /// (its `ring`); the tally adds `cluster_errors` as nodes that failed
  /// and `cluster_missing` as nodes that did not answer.
  std::map<std::string, std::string> cluster_errors;
  std::vector<std::string> cluster_missing;
  duration last_keyring_timeout{};

  result cluster_keyring(keyring_op op, const std::string& key,
                         duration timeout,
                         cluster_keyring_view& out) override {
    if (op == keyring_op::reload)
      return result::error(result_code::invalid, "reload is per node");
    keyring_view mine;
    auto r = keyring(op, key, mine);
    std::lock_guard<std::mutex> g{mtx_};
    last_keyring_timeout = timeout;
    out = cluster_keyring_view{};
    out.expected = 1 + cluster_errors.size() + cluster_missing.size();
    out.responded = 1 + cluster_errors.size();
    out.errors = cluster_errors;
    out.missing = cluster_missing;
    if (!r.ok()) {
      out.errors["fake"] = r.detail;
      return result::success();
    }
    for (auto& k : mine.keys)
      out.keys.push_back({k.fingerprint, 1, k.primary ? 1u : 0u});
    out.changed = mine.changed;
    out.persisted = mine.persisted;
    return result::success();
  }

  result metrics(std::string& out) override {
    out += "# HELP pekonode_members Known members.\n"
           "# TYPE pekonode_members gauge\n"
           "pekonode_members 2\n";
    return result::success();
  }

  bool healthy() override {
    std::lock_guard<std::mutex> g{mtx_};
    return is_healthy;
  }

  // -- user events and queries: recorded; events beyond `event_budget` are
  // rate limited, queries answer with every alive member.
  std::vector<user_event_view> events;
  size_t event_budget = 1000;
  std::vector<query_request> queries;
  /// node -> response payload the fake query reports.
  std::map<std::string, std::string> query_responses;

  result send_event(const std::string& name, const std::string& payload,
                    bool coalesce, user_event_view& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (events.size() >= event_budget)
      return result::error(result_code::rate_limited,
                           "rate_limited: user events above the rate limit");
    out = user_event_view{"user", name, payload, me.name, events.size() + 1,
                          "00000000000000" + std::to_string(10 + events.size() % 90),
                          coalesce};
    events.push_back(out);
    return result::success();
  }

  result run_query(const query_request& q, query_outcome& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (q.node_filter == "(")
      return result::error(result_code::invalid, "bad_filter: node pattern");
    queries.push_back(q);
    out = query_outcome{};
    out.id = "00000000000000" + std::to_string(10 + queries.size() % 90);
    for (auto& m : member_list) {
      if (m.state == "alive")
        out.acks.push_back(m.name);
      else
        out.stragglers.push_back(m.name);
    }
    out.expected = member_list.size();
    out.responses = query_responses;
    return result::success();
  }

  /// Blocks until at least `n` kv_watch calls are waiting at once (false
  /// after 10 s): lets tests act while a long-poll is in progress.
  bool await_watchers(int n) {
    std::unique_lock<std::mutex> g{mtx_};
    return cv_.wait_for(g, std::chrono::seconds{10},
                        [&] { return active_watches_ >= n; });
  }

  // -- snapshot save / restore, force-leave (a fake file: the real magic "PEKOSNAP", then
  // one "key=value\n" line per key; not the real snapshot file).

  /// Snapshot bodies the backend received, in order.
  std::vector<std::string> restored;

  result snapshot_save(uint64_t max_bytes, std::string& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    std::string file = "PEKOSNAP";
    for (auto& [k, e] : kv_)
      file += k + "=" + e.value + "\n";
    if (file.size() > max_bytes)
      return result::error(result_code::invalid,
                           "snapshot_too_large: snapshot would be "
                             + std::to_string(file.size()) + " bytes, limit "
                             + std::to_string(max_bytes));
    out = std::move(file);
    return result::success();
  }

  result snapshot_restore(std::string file, restore_view& out) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (file.compare(0, 8, "PEKOSNAP") != 0)
      return result::error(result_code::invalid,
                           "bad_snapshot: not a pekonode snapshot (no "
                           "\"PEKOSNAP\" magic)");
    out = restore_view{};
    out.records = static_cast<uint64_t>(
      std::count(file.begin(), file.end(), '\n'));
    out.applied = out.records;
    out.source_node = me.name;
    restored.push_back(std::move(file));
    return result::success();
  }

  result force_leave(const std::string& name) override {
    std::lock_guard<std::mutex> g{mtx_};
    if (name == me.name)
      return result::error(result_code::invalid,
                           "force-leave names this node: use leave");
    for (auto& m : member_list) {
      if (m.name != name)
        continue;
      if (m.state != "dead" && m.state != "suspect")
        return result::error(result_code::invalid,
                             "member " + name + " is " + m.state
                               + ": only a failed (dead or suspect) member "
                                 "can be forced to leave");
      m.state = "left";
      return result::success("member " + name + " marked left");
    }
    return result::error(result_code::not_found, "no member named " + name);
  }

  /// Runs `f(*this)` under the backend's lock.
  template <class F>
  auto locked(F f) {
    std::lock_guard<std::mutex> g{mtx_};
    return f(*this);
  }

 private:
  struct entry {
    std::string value;
    std::string version;
  };

  void set_own_state(const std::string& state) {
    for (auto& m : member_list)
      if (m.name == me.name)
        m.state = state;
  }

  void record(const std::string& key, watch_event::change kind,
              const std::string& version) {
    log_.push_back({++last_index_, key, kind, version});
    while (log_.size() > history)
      log_.pop_front();
    cv_.notify_all();
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, entry> kv_;
  std::deque<watch_event> log_;
  uint64_t last_index_ = 0;
  uint64_t clock_ = 0;
  int active_watches_ = 0;
};

} // namespace pekonode::node
