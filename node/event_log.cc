#include "node/event_log.h"

#include <algorithm>

namespace pekonode::node {

namespace {

const std::vector<std::string>& all_types() {
  static const std::vector<std::string> types{
    event_types::member_join,   event_types::member_alive,
    event_types::member_suspect, event_types::member_dead,
    event_types::member_left,   event_types::member_update,
    event_types::member_conflict, event_types::key_put,
    event_types::key_delete,    event_types::user,
    event_types::query};
  return types;
}

bool is_family(const std::string& t) {
  return t == "member" || t == "key";
}

bool type_matches(const std::string& want, const std::string& type) {
  if (want == "*" || want == type)
    return true;
  return is_family(want) && type.size() > want.size()
         && type.compare(0, want.size(), want) == 0
         && type[want.size()] == '-';
}

int64_t system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

bool known_event_type(const std::string& type) {
  auto& all = all_types();
  return std::find(all.begin(), all.end(), type) != all.end();
}

nlohmann::json to_json(const event_record& ev) {
  nlohmann::json j = nlohmann::json::object();
  j["index"] = ev.index;
  j["type"] = ev.type;
  j["time"] = ev.time_ms;
  j["subject"] = ev.subject;
  if (ev.payload.is_object()) {
    for (auto it = ev.payload.begin(); it != ev.payload.end(); ++it)
      if (!j.contains(it.key()))
        j[it.key()] = it.value();
  }
  return j;
}

bool event_filter::matches(const event_record& ev) const {
  if (!prefix.empty() && ev.subject.compare(0, prefix.size(), prefix) != 0)
    return false;
  if (types.empty())
    return true;
  return std::any_of(types.begin(), types.end(), [&](const std::string& t) {
    return type_matches(t, ev.type);
  });
}

std::string parse_event_types(const std::string& text,
                              std::vector<std::string>& out) {
  out.clear();
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    auto t = text.substr(start, end - start);
    start = end + 1;
    if (t.empty()) {
      if (text.empty())
        break;
      return "empty event type in the list";
    }
    if (t != "*" && !is_family(t) && !known_event_type(t))
      return "unknown event type '" + t.substr(0, 64)
             + "' (known: member, key, user, query, *, or one of "
               "member-join, member-alive, member-suspect, member-dead, "
               "member-left, member-update, member-conflict, key-put, "
               "key-delete)";
    if (out.size() >= 32)
      return "more than 32 event types in the list";
    out.push_back(std::move(t));
  }
  return {};
}

event_log::event_log(size_t capacity, clock_fn clock)
  : capacity_(std::max<size_t>(capacity, 1)), clock_(std::move(clock)) {
  if (!clock_)
    clock_ = system_ms;
}

uint64_t event_log::append(std::string type, std::string subject,
                           nlohmann::json payload) {
  std::lock_guard<std::mutex> order{append_mtx_};
  event_record ev;
  ev.type = std::move(type);
  if (subject.size() > max_subject_bytes)
    subject.resize(max_subject_bytes);
  ev.subject = std::move(subject);
  ev.time_ms = clock_();
  if (payload.is_object())
    ev.payload = std::move(payload);
  else if (!payload.is_null())
    ev.payload = nlohmann::json{{"payload", std::move(payload)}};
  // Only append() changes the ring and it is serialised by append_mtx_, so
  // the stored event stays put (a deque keeps references to its other
  // elements on push_back and pop_front) while the listeners read it.
  const event_record* stored = nullptr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ev.index = next_index_++;
    ring_.push_back(std::move(ev));
    stored = &ring_.back();
    if (ring_.size() > capacity_)
      ring_.pop_front();
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> guard{listeners_mtx_};
  for (auto& [id, fn] : listeners_)
    fn(*stored);
  return stored->index;
}

event_batch event_log::read(uint64_t after, const event_filter& filter,
                            size_t max) const {
  std::lock_guard<std::mutex> guard{mtx_};
  event_batch out;
  uint64_t last = next_index_ - 1;
  out.last_index = last;
  out.oldest_index = ring_.empty() ? 0 : ring_.front().index;
  if (ring_.empty()) {
    out.reset = after > last;
    return out;
  }
  if (after > last || after + 1 < out.oldest_index) {
    out.reset = true;
    after = out.oldest_index - 1;
  }
  // Indexes in the ring are consecutive: the first one after `after` is at
  // a known position.
  size_t pos = static_cast<size_t>(after + 1 - out.oldest_index);
  out.last_index = after;
  for (; pos < ring_.size(); ++pos) {
    const auto& ev = ring_[pos];
    out.last_index = ev.index;
    if (filter.matches(ev)) {
      out.events.push_back(ev);
      if (out.events.size() >= max)
        break;
    }
  }
  return out;
}

bool event_log::wait(uint64_t after,
                     std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> guard{mtx_};
  return cv_.wait_for(guard, timeout, [&] { return next_index_ - 1 > after; });
}

uint64_t event_log::last_index() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return next_index_ - 1;
}

size_t event_log::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ring_.size();
}

size_t event_log::add_listener(listener fn) {
  std::lock_guard<std::mutex> guard{listeners_mtx_};
  auto id = next_listener_++;
  listeners_.emplace_back(id, std::move(fn));
  return id;
}

void event_log::remove_listener(size_t id) {
  std::lock_guard<std::mutex> guard{listeners_mtx_};
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                  [id](const auto& l) { return l.first == id; }),
                   listeners_.end());
}

} // namespace pekonode::node
