#include "userevents/codec.h"

#include "common/hash.h"
#include "userevents/userevents.pb.h"

namespace pekonode::userevents {

namespace {

namespace pb = pekonode::userevents;

void to_proto(const wire_event& w, pb::Event& e) {
  auto& ev = w.ev;
  e.set_kind(static_cast<uint32_t>(ev.kind));
  e.set_name(ev.name);
  e.set_payload(ev.payload);
  e.set_origin(ev.origin);
  e.set_ltime(ev.ltime);
  e.set_id(ev.id);
  e.set_coalesce(ev.coalesce);
  e.set_age_ms(w.age_ms);
  if (ev.kind == event_kind::query) {
    e.set_origin_addr(ev.origin_addr);
    e.set_timeout_ms(ev.timeout_ms);
    e.set_node_filter(ev.node_filter);
    for (auto& [k, v] : ev.tags) {
      auto* t = e.add_tag_filters();
      t->set_key(k);
      t->set_pattern(v);
    }
  }
}

bool from_proto(const pb::Event& e, wire_event& w, std::string& why) {
  auto& ev = w.ev;
  if (e.kind() != 1 && e.kind() != 2) {
    why = "unknown event kind " + std::to_string(e.kind());
    return false;
  }
  ev.kind = static_cast<event_kind>(e.kind());
  ev.name = e.name();
  ev.payload = e.payload();
  ev.origin = e.origin();
  ev.ltime = e.ltime();
  ev.id = e.id();
  ev.coalesce = e.coalesce();
  w.age_ms = e.age_ms();
  ev.origin_addr = e.origin_addr();
  ev.timeout_ms = e.timeout_ms();
  ev.node_filter = e.node_filter();
  ev.tags.clear();
  if (static_cast<size_t>(e.tag_filters_size()) > max_tag_filters) {
    why = "too many tag filters";
    return false;
  }
  for (auto& t : e.tag_filters())
    ev.tags.emplace_back(t.key(), t.pattern());
  return valid_event(ev, why);
}

std::string wrap(pb::Packet& p) {
  std::string out;
  p.SerializeToString(&out);
  return out;
}

} // namespace

bool valid_event(const user_event& ev, std::string& why) {
  if (!valid_name(ev.name)) {
    why = "bad event name";
    return false;
  }
  if (ev.name.size() + ev.payload.size() > max_event_bytes) {
    why = "name and payload above " + std::to_string(max_event_bytes)
          + " bytes";
    return false;
  }
  if (!valid_name(ev.origin)) {
    why = "bad origin name";
    return false;
  }
  if (ev.kind == event_kind::user) {
    if (!ev.origin_addr.empty() || ev.timeout_ms != 0
        || !ev.node_filter.empty() || !ev.tags.empty()) {
      why = "query fields in a user event";
      return false;
    }
    return true;
  }
  if (ev.coalesce) {
    why = "coalesce on a query";
    return false;
  }
  if (ev.origin_addr.empty() || ev.origin_addr.size() > max_addr_bytes) {
    why = "bad query origin address";
    return false;
  }
  if (ev.timeout_ms == 0
      || ev.timeout_ms
           > std::chrono::duration_cast<std::chrono::milliseconds>(
               max_query_timeout)
               .count()) {
    why = "query timeout out of range";
    return false;
  }
  size_t bytes = ev.node_filter.size();
  for (auto& [k, v] : ev.tags) {
    if (k.empty()) {
      why = "empty tag filter key";
      return false;
    }
    bytes += k.size() + v.size();
  }
  if (bytes > max_filter_bytes || ev.tags.size() > max_tag_filters) {
    why = "query filters above their bound";
    return false;
  }
  return true;
}

bool decode(std::string_view bytes, packet& out, std::string& why) {
  if (bytes.size() > max_wire_bytes) {
    why = "packet of " + std::to_string(bytes.size()) + " bytes";
    return false;
  }
  pb::Packet p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    why = "not a Packet";
    return false;
  }
  out = packet{};
  switch (p.body_case()) {
    case pb::Packet::kGossip: {
      out.kind = packet::type::gossip;
      auto& g = p.gossip();
      if (g.events_size() == 0
          || static_cast<size_t>(g.events_size()) > max_wire_events) {
        why = "gossip with " + std::to_string(g.events_size()) + " events";
        return false;
      }
      for (auto& e : g.events()) {
        wire_event w;
        if (!from_proto(e, w, why))
          return false;
        out.events.push_back(std::move(w));
      }
      return true;
    }
    case pb::Packet::kSync:
    case pb::Packet::kWant: {
      bool sync = p.body_case() == pb::Packet::kSync;
      out.kind = sync ? packet::type::sync : packet::type::want;
      auto& ids = sync ? p.sync().ids() : p.want().ids();
      if (static_cast<size_t>(ids.size()) > max_wire_ids
          || (!sync && ids.empty())) {
        why = "id list of " + std::to_string(ids.size());
        return false;
      }
      out.ids.assign(ids.begin(), ids.end());
      return true;
    }
    case pb::Packet::kAck:
      out.kind = packet::type::ack;
      out.query_id = p.ack().query_id();
      out.responding = p.ack().responding();
      return true;
    case pb::Packet::kResponse:
      out.kind = packet::type::response;
      out.query_id = p.response().query_id();
      if (p.response().payload().size() > max_response_bytes) {
        why = "response above " + std::to_string(max_response_bytes)
              + " bytes";
        return false;
      }
      out.payload = p.response().payload();
      return true;
    case pb::Packet::BODY_NOT_SET:
      break;
  }
  why = "empty packet";
  return false;
}

size_t wire_size(const wire_event& w) {
  pb::Event e;
  to_proto(w, e);
  auto n = e.ByteSizeLong();
  // Tag and length of the repeated field.
  return n + 1 + (n < 128 ? 1 : 2);
}

std::string encode_gossip(const std::vector<wire_event>& events) {
  pb::Packet p;
  auto* g = p.mutable_gossip();
  for (auto& w : events)
    to_proto(w, *g->add_events());
  return wrap(p);
}

std::string encode_sync(const std::vector<uint64_t>& ids) {
  pb::Packet p;
  auto* s = p.mutable_sync();
  for (auto id : ids)
    s->add_ids(id);
  return wrap(p);
}

std::string encode_want(const std::vector<uint64_t>& ids) {
  pb::Packet p;
  auto* s = p.mutable_want();
  for (auto id : ids)
    s->add_ids(id);
  return wrap(p);
}

std::string encode_ack(uint64_t query_id, bool responding) {
  pb::Packet p;
  p.mutable_ack()->set_query_id(query_id);
  p.mutable_ack()->set_responding(responding);
  return wrap(p);
}

std::string encode_response(uint64_t query_id, const std::string& payload) {
  pb::Packet p;
  p.mutable_response()->set_query_id(query_id);
  p.mutable_response()->set_payload(payload);
  return wrap(p);
}

uint64_t sync_id(const std::string& origin, uint64_t id) {
  return mix64(fnv1a(origin) ^ mix64(id));
}

} // namespace pekonode::userevents
