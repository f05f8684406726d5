#pragma once
// The user-event core (sans-IO): Serf-style user events and queries carried
// on their own channel. Events spread by rumours (a transmit-limited queue,
// fanout peers per gossip tick) and are repaired by anti-entropy of the
// recent ones (ids, then the events a side lacks); a bounded dedup buffer
// delivers each event once per node; coalescing keeps the newest of a name;
// queries are filtered at the receiver, which acks and responds directly to
// the querier. No CAF, no sockets, no clock reads: time and a seed are
// parameters, datagrams go into an outbound_list, deliveries into queues.
//
// Lifecycle of an event at one node:
//
//   unknown --accept--> buffered (offered: gossip until the transmit limit,
//                         anti-entropy until offer_window)
//                     --> remembered (dedup only, until offer_window + margin)
//                     --> forgotten (too old to be accepted again)

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/token_bucket.h"
#include "common/types.h"
#include "userevents/codec.h"
#include "userevents/filter.h"
#include "userevents/types.h"

namespace pekonode::userevents {

/// What the core hands to the shell after a call.
struct delivery {
  user_event ev;
  /// Queries: this node matched and acked with `responding`; the shell asks
  /// the local responder and calls respond() with its answer.
  bool ask_responder = false;
  /// Queries: the querier's deadline as this node dates it; answers after
  /// it are not sent.
  time_point answer_by = time_point::max();
};

class core {
public:
  core(config cfg, std::string self_name, address self_addr, uint64_t seed);

  // -- membership (the shell feeds it from member events) -------------------

  /// Sets a member's address, liveness and tags (this node's own entry
  /// included: its tags are what query filters see).
  void set_member(const std::string& name, const address& addr, bool live,
                  const std::map<std::string, std::string>& tags);

  /// Whether a responder is registered (acks say whether a response follows).
  void set_responder(bool present) { responder_ = present; }

  /// Whether an internal responder answers queries named `name` (a
  /// reserved name); such queries are acked and answered by it alone.
  void set_internal_responder(const std::string& name, bool present) {
    if (present)
      internal_.insert(name);
    else
      internal_.erase(name);
  }

  /// After a leave nothing is raised or answered; events still pass through.
  void set_running(bool running) { running_ = running; }

  // -- local calls ----------------------------------------------------------

  /// Raises a user event: validated, rate limited, delivered here and sent.
  ec publish(const std::string& name, const std::string& payload,
             bool coalesce, time_point now, outbound_list& out,
             user_event* raised = nullptr);

  /// Starts a query; its result comes out of drain_finished() at the
  /// deadline. `why` explains ec::bad_filter.
  ec start_query(const query_params& q, time_point now, outbound_list& out,
                 uint64_t& id, std::string& why);

  /// The local responder's answer to a delivered query (origin, id).
  /// Ignored unless that query is still pending here.
  void respond(const std::string& origin, uint64_t id,
               const std::string& payload, time_point now, outbound_list& out);

  /// The responder failed or had nothing to say: no response is sent.
  void decline(const std::string& origin, uint64_t id);

  // -- network and time -----------------------------------------------------

  /// One message of our channel from `from`, whose envelope names `sender`.
  void handle(const address& from, const std::string& sender,
              std::string_view bytes, time_point now, outbound_list& out);

  /// Runs what is due: gossip, anti-entropy, coalescing flushes, query
  /// deadlines, buffer expiry.
  void poll(time_point now, outbound_list& out);

  /// Earliest time poll() has work; time_point::max() when none.
  time_point next_wakeup() const;

  std::vector<delivery> drain_deliveries();
  std::vector<query_result> drain_finished();

  const stats& counters() const { return stats_; }
  size_t buffered() const { return buffer_.size(); }
  size_t live_queries() const { return queries_.size(); }
  uint64_t lamport() const { return clock_; }

private:
  struct member_info {
    address addr;
    bool live = false;
    std::map<std::string, std::string> tags;
    size_t live_pos = 0; ///< index in live_ while a live peer
  };
  using key = std::pair<std::string, uint64_t>; // (origin, id)
  struct entry {
    user_event ev;
    uint64_t sid = 0;      ///< sync_id(origin, id)
    time_point born;       ///< estimated time the origin raised it
    /// When this node learnt it, or delivered it when that was later (a
    /// coalesced event, at the end of its burst): the dedup memory lasts
    /// offer_window + dedup_margin from here.
    time_point seen;
    int transmits = 0;
  };
  struct live_query {
    query_params params;
    time_point deadline;
    std::set<std::string> expected;
    std::set<std::string> acks;
    std::set<std::string> responding;
    std::map<std::string, std::string> responses;
  };
  struct pending_answer {
    address to;
    time_point deadline;
  };
  struct coalescing {
    user_event newest;
    time_point first;
    time_point last;
  };

  /// Fills the token buckets and schedules the first sync (first call).
  void start(time_point now);
  bool offered(const entry& e, time_point now) const;
  uint32_t age_ms(const entry& e, time_point now) const;
  bool is_member_at(const std::string& name, const address& from) const;
  /// Takes an event in; false when it was a duplicate or refused.
  bool accept(wire_event w, time_point now, outbound_list& out, bool local);
  void deliver(const user_event& ev, time_point now, outbound_list& out);
  void deliver_query(const user_event& ev, time_point now, outbound_list& out);
  void send(const address& to, std::string payload, outbound_list& out);
  /// Packs the entries into Gossip packets for `to`; counts transmits when
  /// `count`; stops at the first packet `budget` (if any) refuses.
  void push(const address& to, std::vector<entry*>& entries, bool count,
            outbound_list& out, token_bucket* budget, time_point now);
  void gossip(time_point now, outbound_list& out);
  void sync(time_point now, outbound_list& out);
  void on_sync(const std::string& sender, const address& from,
               const std::vector<uint64_t>& ids, time_point now,
               outbound_list& out);
  void on_want(const std::string& sender, const address& from,
               const std::vector<uint64_t>& ids, time_point now,
               outbound_list& out);
  void on_ack(const std::string& sender, uint64_t qid, bool responding);
  void on_response(const std::string& sender, uint64_t qid,
                   std::string payload);
  void expire(time_point now);
  /// An internal query every expected member has responded to (it finishes
  /// at once rather than at its deadline).
  static bool answered_by_all(const live_query& q);
  void finish_queries(time_point now);
  void flush_coalesced(time_point now);
  bool take_inbound_budget(const std::string& origin, time_point now);
  token_bucket& reply_budget(const std::string& peer, time_point now);

  config cfg_;
  std::string self_;
  address self_addr_;
  std::mt19937_64 rng_;
  bool responder_ = false;
  std::set<std::string> internal_; ///< reserved names with a responder
  bool running_ = true;
  uint64_t clock_ = 0; ///< Lamport time
  std::map<std::string, member_info> members_;
  /// Names of the live members other than this node, in no particular
  /// order; kept per change so that picking gossip and sync peers costs
  /// O(fanout log N), not a walk of every member. Names, not pointers: a
  /// copied core stays whole.
  std::vector<std::string> live_;
  const address& live_addr(size_t i) const { return members_.at(live_[i]).addr; }
  std::map<key, entry> buffer_;
  std::unordered_map<uint64_t, key> by_sid_;
  std::deque<key> order_; ///< buffer_ keys in the order they were learnt
  std::map<uint64_t, live_query> queries_;
  std::map<key, pending_answer> pending_;
  std::map<std::string, coalescing> coalescing_;
  token_bucket local_events_;
  token_bucket local_queries_;
  token_bucket total_in_;
  std::map<std::string, token_bucket> origin_in_;
  token_bucket shared_origin_in_;
  std::map<std::string, token_bucket> replies_;
  time_point next_gossip_ = time_point::max();
  time_point next_sync_ = time_point::max();
  bool clock_started_ = false;
  std::vector<delivery> deliveries_;
  std::vector<query_result> finished_;
  stats stats_;
};

} // namespace pekonode::userevents
