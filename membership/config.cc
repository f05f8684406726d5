#include "membership/config.h"

#include <algorithm>
#include <cmath>

namespace pekonode::membership {

config config::lan() {
  return config{};
}

config config::local() {
  config c;
  c.probe_interval = milliseconds(200);
  c.probe_timeout = milliseconds(100);
  c.probe_timeout_min = milliseconds(20);
  c.probe_timeout_max = milliseconds(150);
  c.indirect_checks = 2;
  c.suspicion_mult = 3;
  c.gossip_interval = milliseconds(50);
  c.gossip_fanout = 3;
  c.retransmit_mult = 3;
  c.gossip_to_dead = seconds(15);
  c.sync_interval = seconds(5);
  c.join_sync_interval = milliseconds(200);
  c.churn_sync_max_wait = seconds(3);
  c.join_retry_initial = milliseconds(25);
  c.join_retry_max = seconds(5);
  c.reconnect_interval = seconds(5);
  c.dead_probe_interval = milliseconds(500);
  c.leave_drain = milliseconds(300);
  return c;
}

config config::wan() {
  config c;
  c.probe_interval = seconds(5);
  c.probe_timeout = seconds(3);
  c.probe_timeout_min = milliseconds(200);
  c.probe_timeout_max = seconds(4);
  c.suspicion_mult = 6;
  c.gossip_interval = milliseconds(500);
  c.gossip_to_dead = seconds(60);
  c.sync_interval = seconds(30);
  c.join_sync_interval = seconds(2);
  c.churn_sync_max_wait = seconds(30);
  c.join_retry_initial = seconds(1);
  c.join_retry_max = seconds(60);
  c.reconnect_interval = seconds(60);
  c.dead_probe_interval = seconds(4);
  c.leave_drain = seconds(3);
  return c;
}

std::string config::validate() const {
  if (probe_interval <= duration::zero())
    return "probe_interval must be positive";
  if (probe_timeout <= duration::zero() || probe_timeout >= probe_interval)
    return "probe_timeout must be positive and below probe_interval";
  if (probe_timeout_min <= duration::zero()
      || probe_timeout_max >= probe_interval
      || probe_timeout_min > probe_timeout || probe_timeout > probe_timeout_max)
    return "need 0 < probe_timeout_min <= probe_timeout <= probe_timeout_max "
           "< probe_interval";
  if (indirect_checks < 0 || indirect_checks > 16)
    return "indirect_checks must be in [0,16]";
  if (awareness_max < 1 || awareness_max > 64)
    return "awareness_max must be in [1,64]";
  if (suspicion_mult < 1) return "suspicion_mult must be >= 1";
  if (suspicion_max_timeout_mult < 1)
    return "suspicion_max_timeout_mult must be >= 1";
  if (gossip_interval <= duration::zero())
    return "gossip_interval must be positive";
  if (gossip_fanout < 1) return "gossip_fanout must be >= 1";
  if (retransmit_mult < 1) return "retransmit_mult must be >= 1";
  if (max_packet < 256) return "max_packet must be >= 256";
  if (max_datagram < max_packet) return "max_datagram must be >= max_packet";
  if (max_datagram < max_tags_bytes + max_name_bytes + max_addr_bytes + 256)
    return "max_datagram too small for the largest tags";
  if (sync_interval <= duration::zero()) return "sync_interval must be positive";
  if (join_syncs < 0 || join_syncs > 16) return "join_syncs must be in [0,16]";
  if (join_sync_interval <= duration::zero())
    return "join_sync_interval must be positive";
  if (churn_sync_max_wait < join_sync_interval)
    return "churn_sync_max_wait must be at least join_sync_interval";
  if (join_retry_initial <= duration::zero()
      || join_retry_max < join_retry_initial)
    return "join retry delays must be positive and initial <= max";
  if (reconnect_interval <= duration::zero())
    return "reconnect_interval must be positive";
  if (dead_probe_interval < duration::zero())
    return "dead_probe_interval must not be negative";
  if (max_incarnation_jump < 1) return "max_incarnation_jump must be >= 1";
  if (refute_burst < 1) return "refute_burst must be >= 1";
  if (assist_burst < 1 || assist_per_probe < 1)
    return "assist_burst and assist_per_probe must be >= 1";
  if (max_unconfirmed < 1) return "max_unconfirmed must be >= 1";
  if (unconfirmed_ttl <= probe_timeout)
    return "unconfirmed_ttl must exceed probe_timeout";
  if (confirm_burst < 1 || confirm_per_probe < 1 || confirm_attempts < 1)
    return "confirm_burst, confirm_per_probe and confirm_attempts must be >= 1";
  if (!(new_members_burst >= 1) || !(new_members_per_second > 0)
      || !(tag_bytes_burst >= static_cast<double>(max_tags_bytes))
      || !(tag_bytes_per_second > 0))
    return "per-source budgets must be positive (tag_bytes_burst >= "
           "max_tags_bytes)";
  if (max_table_bytes < 64 * 1024) return "max_table_bytes must be >= 64 KiB";
  if (reply_pages_burst < 1 || !(reply_pages_per_second > 0)
      || !(reply_pages_global_per_second >= 1))
    return "reply page budgets must be positive";
  if (leave_notices_per_tick < 0 || leave_notices_per_tick > 1024)
    return "leave_notices_per_tick must be in [0,1024]";
  if (max_name_bytes == 0 || max_addr_bytes == 0 || max_members < 2)
    return "limits too small";
  return {};
}

duration sync_period(const config& c, std::size_t live) {
  double lg = std::ceil(std::log2(static_cast<double>(std::max<std::size_t>(live, 1))));
  int scale = 1 + std::max(0, static_cast<int>(lg) - 5);
  return c.sync_interval * scale;
}

int retransmit_limit(const config& c, std::size_t live) {
  double lg = std::ceil(std::log10(static_cast<double>(live) + 1.0));
  return std::max(1, c.retransmit_mult * static_cast<int>(std::max(1.0, lg)));
}

duration jitter(duration d, std::mt19937_64& rng) {
  auto half = d.count() / 2;
  if (half <= 0) return d;
  std::uniform_int_distribution<duration::rep> dist(0, half - 1);
  return duration{half + dist(rng)};
}

} // namespace pekonode::membership
