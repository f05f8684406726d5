#pragma once
// Graceful leave, the direct part (config::leave_notices_per_tick): while
// this node drains after leave(), it sends its 'left' claim straight to the
// members that were live, with a LeaveNotice asking for a LeaveAck, until
// each has acked or the drain ends; and it answers the notices of other
// leavers. Gossip of the 'left' claim and the drain's timing stay with the
// core; this module only knows who still has to hear it.
//
// A member while this node leaves:
//
//   pending --notice sent--> notified --LeaveAck--> done
//      ^                        |
//      +-- resend gap passed ---+   (also answered at once when it talks
//                                    to us; each at most once per gap)

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/types.h"
#include "membership/codec.h"
#include "membership/config.h"
#include "membership/member_table.h"
#include "membership/types.h"

namespace pekonode::membership {

class leave_notices {
public:
  leave_notices(const config& cfg, member_table& table, outbox& ob,
                std::mt19937_64& rng, core_stats& stats);

  // -- this node leaves ------------------------------------------------------------

  /// Picks the members to notify, in random order: all live ones, or a
  /// random subset as large as the drain can reach (leave_notices_per_tick
  /// per gossip tick; the rest learn through gossip relays), so a leave
  /// costs O(min(N, notices per drain)), not O(N). Draws from rng. Nothing
  /// when leave_notices_per_tick is 0.
  void start(time_point now);

  /// One gossip tick's share: up to leave_notices_per_tick notices to
  /// members not notified yet, or notified at least resend_gap() ago
  /// without an ack. Visits at most 4x that many entries: O(k).
  void tick(time_point now, outbound_list& out);

  /// Forgets every pending member (the drain ended, or a rejoin).
  void stop();

  /// Whether some member has not acked yet.
  bool pending() const { return !pending_.empty(); }

  /// Minimum time between two notices to one member:
  /// max(gossip_interval, probe_timeout / 2).
  duration resend_gap() const;

  /// A datagram while leaving. Only acks to our notices are processed; a
  /// packet from a member that has not acked (a probe, a gossip push)
  /// shows it still takes us for live, so it gets the notice now (within
  /// the resend gap, at the address we know, not the packet's source).
  /// Malformed packets are dropped without a count.
  void handle(std::string_view bytes, time_point now, outbound_list& out);

  // -- another member leaves --------------------------------------------------------

  /// A leaver's notice; its 'left' claim came in the same packet and has
  /// been applied by now. Acked only if we do hold the sender as left (a
  /// newer record, e.g. after its rejoin, is not acked).
  void on_notice(const std::string& sender, const address& from,
                 const LeaveNotice& m, outbound_list& out);

private:
  struct peer {
    std::string name;
    address addr;
    time_point last_sent{};
    bool sent = false;
  };

  void send_notice(peer& p, time_point now, outbound_list& out);
  void acked(const std::string& name, uint64_t seq);
  void move(std::size_t from, std::size_t to);

  const config& cfg_;
  member_table& table_;
  outbox& ob_;
  std::mt19937_64& rng_;
  core_stats& stats_;
  // Members that have not acked, in random order. Notices walk the list
  // from cursor_, wrapping for the next round; an ack removes the member.
  std::vector<peer> pending_;
  std::unordered_map<std::string, std::size_t> pos_; // name -> index
  std::size_t cursor_ = 0;
  uint64_t seq_ = 0; // of this leave, echoed in acks
};

} // namespace pekonode::membership
