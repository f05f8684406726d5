#include "node/admin_http.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "node/options.h"

namespace pekonode::node {

namespace {

using json = nlohmann::json;

constexpr const char* json_type = "application/json";

/// Nesting allowed in request JSON; every request body is flat.
constexpr size_t max_json_depth = 8;

/// Longest slice of one backend kv_watch call, so stop() and deadlines are
/// noticed promptly.
constexpr auto watch_slice = std::chrono::milliseconds{500};

/// Caps on list sizes in request bodies.
constexpr size_t max_blocked_peers = 1024;

// Serialises without throwing on invalid UTF-8 (keys and tags are bytes).
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body) + "\n", json_type);
}

void reply_error(httplib::Response& res, int status, const std::string& msg) {
  reply_json(res, status, json{{"error", msg}});
}

void reply_result_error(httplib::Response& res, const result& r) {
  switch (r.code) {
    case result_code::invalid:
      reply_error(res, 400, r.detail.empty() ? "invalid request" : r.detail);
      break;
    case result_code::not_found:
      reply_error(res, 404, r.detail.empty() ? "not found" : r.detail);
      break;
    case result_code::unavailable:
      res.set_header("Retry-After", "1");
      reply_error(res, 503,
                  r.detail.empty() ? "node unavailable" : r.detail);
      break;
    case result_code::ok:
      reply_error(res, 500, "internal error: success reported as failure");
      break;
  }
}

const char* status_text(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    case 503:
      return "node unavailable";
    default:
      return "request failed";
  }
}

// Rejects JSON nested deeper than max_json_depth before the parser sees it.
bool json_depth_ok(const std::string& text) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_json_depth)
        return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parses a request body as a JSON object; on failure replies 400.
bool parse_object(const httplib::Request& req, httplib::Response& res,
                  json& out) {
  if (!json_depth_ok(req.body)) {
    reply_error(res, 400, "invalid JSON: nested too deeply");
    return false;
  }
  try {
    out = json::parse(req.body);
  } catch (const json::exception& e) {
    reply_error(res, 400, std::string{"invalid JSON: "} + e.what());
    return false;
  }
  if (!out.is_object()) {
    reply_error(res, 400, "invalid JSON: expected an object");
    return false;
  }
  return true;
}

json tags_json(const tag_map& tags) {
  json j = json::object();
  for (auto& [k, v] : tags)
    j[k] = v;
  return j;
}

int64_t steady_ms_left(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           deadline - std::chrono::steady_clock::now())
    .count();
}

} // namespace

bool percent_decode(const std::string& in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string result;
  result.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      result += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return false;
    int hi = hex(in[i + 1]);
    int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    result += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  out = std::move(result);
  return true;
}

std::string percent_encode_key(const std::string& key) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                 c == '~' || c == '/';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

bool parse_wait(const std::string& text, duration& out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 9)
    return false;
  // At most 9 digits times 60000 fits in int64 milliseconds; clamp to a day
  // before converting so no unit can overflow `duration`.
  int64_t n = std::stoll(text.substr(0, digits));
  auto unit = text.substr(digits);
  int64_t ms = 0;
  if (unit.empty() || unit == "s")
    ms = n * 1000;
  else if (unit == "ms")
    ms = n;
  else if (unit == "m")
    ms = n * 60000;
  else
    return false;
  out = std::chrono::milliseconds{std::min<int64_t>(ms, 86400000)};
  return true;
}

// -- server -------------------------------------------------------------------

struct admin_server::impl {
  explicit impl(admin_server& parent) : self(parent) {
  }

  admin_server& self;
  httplib::Server svr;

  // Routing on the raw target: the path is everything before '?', still
  // percent-encoded, so an encoded '?' or '/' inside a key stays in the key.
  void dispatch(const httplib::Request& req, httplib::Response& res) {
    try {
      auto path = req.target.substr(0, req.target.find('?'));
      route(req.method, path, req, res);
    } catch (const std::exception& e) {
      reply_error(res, 500, std::string{"internal error: "} + e.what());
    }
    // Counted before the response is written, so a client that reads
    // /metrics right after sees its previous request.
    count(res.status);
  }

  void count(int status) {
    self.stats_.add("pekonode_admin_requests_total",
                    {{"code", std::to_string(status)}}, 1);
  }

  void method_not_allowed(httplib::Response& res, const char* allow) {
    res.set_header("Allow", allow);
    reply_error(res, 405, std::string{"method not allowed; use "} + allow);
  }

  void route(const std::string& method, const std::string& path,
             const httplib::Request& req, httplib::Response& res) {
    bool get = method == "GET" || method == "HEAD";
    static const std::string kv_prefix = "/v1/kv/";
    if (path.compare(0, kv_prefix.size(), kv_prefix) == 0) {
      if (get)
        return kv_get(path.substr(kv_prefix.size()), res);
      if (method == "PUT")
        return kv_put(path.substr(kv_prefix.size()), req, res);
      if (method == "DELETE")
        return kv_del(path.substr(kv_prefix.size()), res);
      return method_not_allowed(res, "GET, PUT, DELETE");
    }
    if (path == "/v1/health")
      return get ? health(res) : method_not_allowed(res, "GET");
    if (path == "/v1/self")
      return get ? self_info(res) : method_not_allowed(res, "GET");
    if (path == "/v1/members")
      return get ? members(res) : method_not_allowed(res, "GET");
    if (path == "/v1/kv")
      return get ? kv_root(req, res) : method_not_allowed(res, "GET");
    if (path == "/v1/metadata") {
      if (get)
        return metadata_get(res);
      if (method == "PUT")
        return metadata_put(req, res);
      return method_not_allowed(res, "GET, PUT");
    }
    if (path == "/v1/join")
      return method == "POST" ? join(req, res)
                              : method_not_allowed(res, "POST");
    if (path == "/v1/leave")
      return method == "POST" ? action(self.backend_.leave(), res)
                              : method_not_allowed(res, "POST");
    if (path == "/v1/rejoin")
      return method == "POST" ? action(self.backend_.rejoin(), res)
                              : method_not_allowed(res, "POST");
    if (path == "/v1/tags")
      return method == "PUT" ? set_tags(req, res)
                             : method_not_allowed(res, "PUT");
    if (path == "/metrics")
      return get ? metrics(res) : method_not_allowed(res, "GET");
    if (path == "/v1/faults" && self.cfg_.fault_injection) {
      if (get)
        return faults_get(res);
      if (method == "POST")
        return faults_post(req, res);
      return method_not_allowed(res, "GET, POST");
    }
    reply_error(res, 404, "no such endpoint: " + path);
  }

  // -- handlers ---------------------------------------------------------------

  void health(httplib::Response& res) {
    if (self.backend_.healthy() && !self.stopping_)
      reply_json(res, 200, json{{"status", "ok"}});
    else
      reply_error(res, 503, "node stopping");
  }

  void self_info(httplib::Response& res) {
    self_view v;
    if (auto r = self.backend_.self(v); !r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200,
               json{{"name", v.name},
                    {"addr", v.addr},
                    {"incarnation", v.incarnation},
                    {"tags", tags_json(v.tags)}});
  }

  void members(httplib::Response& res) {
    std::vector<member_view> ms;
    if (auto r = self.backend_.members(ms); !r.ok())
      return reply_result_error(res, r);
    std::sort(ms.begin(), ms.end(), [](auto& a, auto& b) {
      return std::tie(a.name, a.addr) < std::tie(b.name, b.addr);
    });
    json arr = json::array();
    for (auto& m : ms)
      arr.push_back(json{{"name", m.name},
                         {"addr", m.addr},
                         {"state", m.state},
                         {"incarnation", m.incarnation},
                         {"tags", tags_json(m.tags)}});
    reply_json(res, 200, json{{"members", std::move(arr)}});
  }

  void kv_root(const httplib::Request& req, httplib::Response& res) {
    auto w = req.get_param_value("watch");
    if (!w.empty() && w != "0" && w != "false")
      return kv_watch(req, res);
    std::vector<kv_entry_view> entries;
    if (auto r = self.backend_.kv_list(entries); !r.ok())
      return reply_result_error(res, r);
    // The current change index lets a client start a watch without replay.
    watch_batch head;
    auto r = self.backend_.kv_watch(std::numeric_limits<uint64_t>::max(),
                                    duration::zero(), head);
    if (!r.ok())
      return reply_result_error(res, r);
    // A backend that echoes after_index instead of its newest index would
    // make clients watch from "infinity" and never see a change; fall back to
    // 0 (a bounded replay of the retained history) in that case.
    if (head.last_index == std::numeric_limits<uint64_t>::max())
      head.last_index = 0;
    std::sort(entries.begin(), entries.end(),
              [](auto& a, auto& b) { return a.key < b.key; });
    json arr = json::array();
    for (auto& e : entries)
      arr.push_back(json{{"key", e.key},
                         {"version", e.version},
                         {"origin", e.origin},
                         {"size", e.size},
                         {"updated_unix_ms", e.updated_unix_ms}});
    reply_json(res, 200,
               json{{"index", head.last_index}, {"keys", std::move(arr)}});
  }

  void kv_watch(const httplib::Request& req, httplib::Response& res) {
    uint64_t after = 0;
    if (req.has_param("index")) {
      auto text = req.get_param_value("index");
      if (text.empty() || text.size() > 20 ||
          text.find_first_not_of("0123456789") != std::string::npos)
        return reply_error(res, 400, "index must be a non-negative integer");
      try {
        after = std::stoull(text);
      } catch (const std::exception&) {
        return reply_error(res, 400, "index out of range");
      }
    }
    duration wait = self.cfg_.default_watch_wait;
    if (req.has_param("wait") &&
        !parse_wait(req.get_param_value("wait"), wait))
      return reply_error(res, 400,
                         "wait must look like 500ms, 10s, 2m or 10");
    wait = std::min(wait, self.cfg_.max_watch_wait);
    auto prefix = req.get_param_value("prefix");

    // Bound concurrent long-polls so they cannot take every worker thread.
    if (self.watchers_.fetch_add(1) >= self.cfg_.max_watchers) {
      self.watchers_.fetch_sub(1);
      res.set_header("Retry-After", "1");
      return reply_error(res, 503, "too many concurrent watches");
    }
    struct release {
      std::atomic<size_t>& n;
      ~release() {
        n.fetch_sub(1);
      }
    } guard{self.watchers_};

    auto deadline = std::chrono::steady_clock::now() + wait;
    uint64_t cursor = after;
    bool truncated = false;
    std::vector<watch_event> picked;
    for (;;) {
      auto left = std::chrono::milliseconds{
        std::max<int64_t>(0, steady_ms_left(deadline))};
      auto slice = std::min<duration>(left, watch_slice);
      watch_batch batch;
      if (auto r = self.backend_.kv_watch(cursor, slice, batch); !r.ok())
        return reply_result_error(res, r);
      if (batch.truncated || batch.last_index < after) {
        // History lost, or the node restarted with fresh indices: the
        // client must re-list.
        truncated = true;
        cursor = batch.last_index;
        break;
      }
      for (auto& ev : batch.events)
        if (ev.index > cursor && ev.key.compare(0, prefix.size(), prefix) == 0)
          picked.push_back(std::move(ev));
      cursor = std::max(cursor, batch.last_index);
      if (!picked.empty() || left.count() == 0 || self.stopping_)
        break;
    }
    std::stable_sort(picked.begin(), picked.end(),
                     [](auto& a, auto& b) { return a.index < b.index; });
    json arr = json::array();
    for (auto& ev : picked)
      arr.push_back(
        json{{"index", ev.index},
             {"key", ev.key},
             {"kind", ev.kind == watch_event::change::put ? "put" : "delete"},
             {"version", ev.version}});
    reply_json(res, 200,
               json{{"index", cursor},
                    {"truncated", truncated},
                    {"events", std::move(arr)}});
  }

  bool decode_key(const std::string& raw, httplib::Response& res,
                  std::string& key) {
    if (!percent_decode(raw, key)) {
      reply_error(res, 400, "malformed percent-encoding in key");
      return false;
    }
    if (key.empty()) {
      reply_error(res, 400, "empty key");
      return false;
    }
    if (key.size() > self.cfg_.max_key_bytes) {
      reply_error(res, 400,
                  "key longer than " +
                    std::to_string(self.cfg_.max_key_bytes) + " bytes");
      return false;
    }
    return true;
  }

  void kv_get(const std::string& raw, httplib::Response& res) {
    std::string key;
    if (!decode_key(raw, res, key))
      return;
    std::string value;
    if (auto r = self.backend_.kv_get(key, value); !r.ok()) {
      if (r.code == result_code::not_found)
        return reply_error(res, 404, "no such key");
      return reply_result_error(res, r);
    }
    res.status = 200;
    res.set_content(std::move(value), "application/octet-stream");
  }

  bool body_within_limit(const httplib::Request& req,
                         httplib::Response& res) {
    // httplib enforces the limit while reading; this catches any path that
    // does not (e.g. chunked bodies on older versions).
    if (req.body.size() > self.cfg_.max_value_bytes + self.cfg_.body_slack_bytes) {
      reply_error(res, 413, "request body too large");
      return false;
    }
    return true;
  }

  void kv_put(const std::string& raw, const httplib::Request& req,
              httplib::Response& res) {
    std::string key;
    if (!decode_key(raw, res, key) || !body_within_limit(req, res))
      return;
    auto r = self.backend_.kv_put(key, req.body);
    if (!r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, json{{"key", key}, {"version", r.detail}});
  }

  void kv_del(const std::string& raw, httplib::Response& res) {
    std::string key;
    if (!decode_key(raw, res, key))
      return;
    auto r = self.backend_.kv_del(key);
    if (!r.ok()) {
      if (r.code == result_code::not_found)
        return reply_error(res, 404, "no such key");
      return reply_result_error(res, r);
    }
    reply_json(res, 200, json{{"key", key}, {"version", r.detail}});
  }

  void metadata_get(httplib::Response& res) {
    std::string value;
    if (auto r = self.backend_.metadata_get(value); !r.ok()) {
      if (r.code == result_code::not_found)
        return reply_error(res, 404, "no metadata published");
      return reply_result_error(res, r);
    }
    res.status = 200;
    res.set_content(std::move(value), "application/octet-stream");
  }

  void metadata_put(const httplib::Request& req, httplib::Response& res) {
    if (!body_within_limit(req, res))
      return;
    auto r = self.backend_.metadata_put(req.body);
    if (!r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, json{{"version", r.detail}});
  }

  void action(const result& r, httplib::Response& res) {
    if (!r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, json{{"ok", true}, {"detail", r.detail}});
  }

  void join(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_object(req, res, body))
      return;
    auto i = body.find("seeds");
    if (i == body.end() || !i->is_array() || i->empty())
      return reply_error(res, 400,
                         "expected {\"seeds\":[\"host:port\",...]} with at "
                         "least one seed");
    if (i->size() > max_join_seeds)
      return reply_error(res, 400, "too many seeds (max " +
                                     std::to_string(max_join_seeds) + ")");
    std::vector<std::string> seeds;
    for (auto& s : *i) {
      if (!s.is_string())
        return reply_error(res, 400, "seeds must be strings");
      host_endpoint ep;
      if (auto err = parse_host_endpoint(s.get<std::string>(), ep);
          !err.empty())
        return reply_error(res, 400, "seed: " + err);
      seeds.push_back(ep.to_string());
    }
    action(self.backend_.join(seeds), res);
  }

  void set_tags(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_object(req, res, body))
      return;
    if (body.size() > max_tags)
      return reply_error(res, 400, "too many tags (max " +
                                     std::to_string(max_tags) + ")");
    tag_map tags;
    for (auto& [k, v] : body.items()) {
      if (!v.is_string())
        return reply_error(res, 400, "tag \"" + k + "\" must be a string");
      tags.emplace(k, v.get<std::string>());
    }
    if (auto err = validate_tags(tags); !err.empty())
      return reply_error(res, 400, err);
    auto r = self.backend_.set_tags(tags);
    if (!r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, json{{"ok", true}, {"tags", tags_json(tags)}});
  }

  void metrics(httplib::Response& res) {
    std::string text;
    if (auto r = self.backend_.metrics(text); !r.ok())
      return reply_result_error(res, r);
    if (!text.empty() && text.back() != '\n')
      text += '\n';
    self.stats_.render_to(text);
    res.status = 200;
    res.set_content(std::move(text), "text/plain; version=0.0.4");
  }

  static json faults_json(const fault_settings& f) {
    return json{{"enabled", true},
                {"drop_rate", f.drop_rate},
                {"blocked", f.blocked}};
  }

  void faults_get(httplib::Response& res) {
    fault_settings f;
    if (auto r = self.backend_.faults(f); !r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, faults_json(f));
  }

  // Partial update: fields left out keep their current value.
  void faults_post(const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!parse_object(req, res, body))
      return;
    fault_settings f;
    if (auto r = self.backend_.faults(f); !r.ok())
      return reply_result_error(res, r);
    for (auto& [k, v] : body.items()) {
      if (k == "drop_rate") {
        if (!v.is_number())
          return reply_error(res, 400, "drop_rate must be a number");
        double rate = v.get<double>();
        if (!std::isfinite(rate) || rate < 0.0 || rate > 1.0)
          return reply_error(res, 400, "drop_rate must be in [0, 1]");
        f.drop_rate = rate;
      } else if (k == "blocked") {
        if (!v.is_array())
          return reply_error(res, 400, "blocked must be an array");
        if (v.size() > max_blocked_peers)
          return reply_error(res, 400,
                             "too many blocked peers (max " +
                               std::to_string(max_blocked_peers) + ")");
        std::vector<address> blocked;
        for (auto& p : v) {
          if (!p.is_string())
            return reply_error(res, 400, "blocked entries must be strings");
          ip_endpoint ep;
          if (auto err = parse_ip_endpoint(p.get<std::string>(), false, ep);
              !err.empty())
            return reply_error(res, 400, "blocked: " + err);
          blocked.push_back(ep.to_string());
        }
        std::sort(blocked.begin(), blocked.end());
        blocked.erase(std::unique(blocked.begin(), blocked.end()),
                      blocked.end());
        f.blocked = std::move(blocked);
      } else {
        return reply_error(res, 400, "unknown field \"" + k +
                                       "\" (expected drop_rate, blocked)");
      }
    }
    if (auto r = self.backend_.set_faults(f); !r.ok())
      return reply_result_error(res, r);
    reply_json(res, 200, faults_json(f));
  }
};

admin_server::admin_server(admin_backend& backend, admin_config cfg)
  : backend_(backend), cfg_(std::move(cfg)) {
  if (cfg_.threads == 0)
    cfg_.threads = 1;
  if (cfg_.max_watchers >= cfg_.threads)
    cfg_.max_watchers = cfg_.threads > 1 ? cfg_.threads - 1 : 0;
  stats_.describe("pekonode_admin_requests_total", metric_kind::counter,
                  "Admin HTTP requests answered, by status code.");
  impl_ = std::make_unique<impl>(*this);
  auto& svr = impl_->svr;
  auto n = cfg_.threads;
  svr.new_task_queue = [n] { return new httplib::ThreadPool(n); };
  svr.set_payload_max_length(cfg_.max_value_bytes + cfg_.body_slack_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the
  // same port and silently share our connections. SO_REUSEADDR alone still
  // allows a quick restart over TIME_WAIT but makes a live port a bind error.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_keep_alive_max_count(32);
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(10);
  svr.set_write_timeout(10);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    impl_->dispatch(req, res);
  };
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Delete(".*", handler);
  svr.Patch(".*", handler);
  svr.Options(".*", handler);
  // Errors produced by httplib itself (413, 414, 400 on a malformed request)
  // get the same JSON shape as ours; ours always carry a body already and
  // were counted by dispatch().
  svr.set_error_handler(
    [this](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        reply_error(res, res.status, status_text(res.status));
        impl_->count(res.status);
      }
    });
}

admin_server::~admin_server() {
  stop();
}

std::string admin_server::start(const std::string& host, uint16_t port) {
  std::lock_guard<std::mutex> guard{lifecycle_mtx_};
  auto where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
               ":" + std::to_string(port);
  if (started_)
    return "admin API already started";
  if (stopping_)
    return "admin API already stopped";
  auto& svr = impl_->svr;
  errno = 0;
  int bound = -1;
  if (port == 0)
    bound = svr.bind_to_any_port(host);
  else if (svr.bind_to_port(host, port))
    bound = port;
  if (bound <= 0) {
    std::string why = errno != 0 ? std::strerror(errno)
                                 : "address not available";
    return "cannot bind admin API to " + where + ": " + why;
  }
  port_ = static_cast<uint16_t>(bound);
  started_ = true;
  listening_done_ = false;
  thread_ = std::thread([this] {
    impl_->svr.listen_after_bind();
    listening_done_ = true;
  });
  // httplib's stop() is a no-op until the accept loop runs: wait for it so a
  // stop() right after start() cannot hang.
  while (!impl_->svr.is_running() && !listening_done_)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  return {};
}

void admin_server::stop() {
  std::lock_guard<std::mutex> guard{lifecycle_mtx_};
  stopping_ = true;
  if (!started_)
    return;
  impl_->svr.stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace pekonode::node
