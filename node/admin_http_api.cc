#include "node/admin_http_api.h"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/text.h"
#include "node/options.h"
#include "ui/assets.h"

namespace pekonode::node::http {

namespace {

using json = nlohmann::json;

/// Nesting allowed in request JSON; every request body is flat.
constexpr size_t max_json_depth = 8;

/// Caps on list sizes in request bodies.
constexpr size_t max_blocked_peers = 1024;
// Largest delay_ms and jitter_ms of /v1/faults: the transport's own bound
// (transport::max_fault_delay_ms; this target does not link the transport).
constexpr uint32_t max_fault_delay_ms = 10'000;

// Serialises without throwing on invalid UTF-8 (keys and tags are bytes).
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

response reply(int status, const json& body) {
  response r;
  r.status = status;
  r.body = dump(body) + "\n";
  return r;
}

response from_result(const result& res) {
  switch (res.code) {
    case result_code::invalid:
      return error(400, res.detail.empty() ? "invalid request" : res.detail);
    case result_code::not_found:
      return error(404, res.detail.empty() ? "not found" : res.detail);
    case result_code::unavailable: {
      auto r = error(503, res.detail.empty() ? "node unavailable" : res.detail);
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case result_code::timeout:
      return error(504, res.detail.empty() ? "timed out" : res.detail);
    case result_code::insufficient_storage:
      return error(507, res.detail.empty() ? "disk full" : res.detail);
    case result_code::precondition_failed:
      return error(412, res.detail.empty() ? "precondition failed"
                                           : res.detail);
    case result_code::too_large:
      return error(413, res.detail.empty() ? "too large" : res.detail);
    case result_code::rate_limited: {
      auto r = error(429, res.detail.empty() ? "rate limited" : res.detail);
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case result_code::ok:
      break;
  }
  return error(500, "internal error: success reported as failure");
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

// Parses a request body as a JSON object; on failure fills `err` (400).
bool parse_object(const std::string& body, json& out,
                  std::optional<response>& err) {
  if (!json_depth_ok(body)) {
    err = error(400, "invalid JSON: nested deeper than "
                       + std::to_string(max_json_depth) + " levels");
    return false;
  }
  try {
    out = json::parse(body);
  } catch (const json::exception& e) {
    err = error(400, std::string{"invalid JSON: "} + e.what());
    return false;
  }
  if (!out.is_object()) {
    err = error(400, "invalid JSON: expected an object");
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

// Query flags: present without value, "1" or "true" is on; "0", "false" off.
bool flag_value(const std::string* v, bool& out) {
  if (v == nullptr) {
    out = false;
    return true;
  }
  if (v->empty() || *v == "1" || *v == "true") {
    out = true;
    return true;
  }
  if (*v == "0" || *v == "false") {
    out = false;
    return true;
  }
  return false;
}

bool percent_decode_query(const std::string& in, std::string& out) {
  std::string plus = in;
  std::replace(plus.begin(), plus.end(), '+', ' ');
  return percent_decode(plus, out);
}

std::string bytes_text(uint64_t n) {
  std::string s = std::to_string(n) + " bytes";
  if (n >= 1024 && n % 1024 == 0)
    s += " (" + std::to_string(n / 1024) + " KiB)";
  return s;
}

response method_not_allowed(const route& r, const std::string& method) {
  auto res = error(405, "method " + quote(method, 16) + " not allowed on "
                          "this path; use " + r.allow);
  res.headers.emplace_back("Allow", r.allow);
  return res;
}

const char* endpoint_name(endpoint ep) {
  switch (ep) {
    case endpoint::kv_root:
      return "/v1/kv";
    case endpoint::kv_key:
      return "/v1/kv/{key}";
    case endpoint::join:
      return "/v1/join";
    case endpoint::events:
      return "/v1/events";
    case endpoint::user_event:
      return "/v1/event/{name}";
    case endpoint::query:
      return "/v1/query/{name}";
    default:
      return "this endpoint";
  }
}

} // namespace

const std::string* request::param(const std::string& name) const {
  for (auto& [k, v] : query)
    if (k == name)
      return &v;
  return nullptr;
}

response error(int status, const std::string& message) {
  return reply(status, json{{"error", message}});
}

// -- routing ------------------------------------------------------------------

route match(const std::string& method, const std::string& path,
            bool faults_enabled) {
  route r;
  bool get = method == "GET" || method == "HEAD";
  auto set = [&](endpoint ep, const char* allow, bool ok, bool mutating,
                 body_kind body, std::vector<const char*> params = {}) {
    r.ep = ep;
    r.allow = allow;
    r.method_ok = ok;
    r.mutating = ok && mutating;
    r.body = body;
    r.params = std::move(params);
  };
  static const std::string kv_prefix = "/v1/kv/";
  if (path.compare(0, kv_prefix.size(), kv_prefix) == 0) {
    r.key_raw = path.substr(kv_prefix.size());
    if (get)
      set(endpoint::kv_key, "GET, HEAD, PUT, DELETE", true, false,
          body_kind::small, {"recurse"});
    else if (method == "PUT")
      set(endpoint::kv_key, "GET, HEAD, PUT, DELETE", true, true,
          body_kind::value, {"cas", "replicas", "timeout"});
    else if (method == "DELETE")
      set(endpoint::kv_key, "GET, HEAD, PUT, DELETE", true, true,
          body_kind::small, {"cas", "replicas", "timeout"});
    else
      set(endpoint::kv_key, "GET, HEAD, PUT, DELETE", false, false,
          body_kind::small);
    return r;
  }
  static const std::string event_prefix = "/v1/event/";
  static const std::string query_prefix = "/v1/query/";
  if (path.compare(0, event_prefix.size(), event_prefix) == 0) {
    r.key_raw = path.substr(event_prefix.size());
    set(endpoint::user_event, "POST", method == "POST", true, body_kind::event,
        {"coalesce"});
    return r;
  }
  if (path.compare(0, query_prefix.size(), query_prefix) == 0) {
    r.key_raw = path.substr(query_prefix.size());
    set(endpoint::query, "POST", method == "POST", true, body_kind::event,
        {"node", "tag", "timeout"});
    return r;
  }
  static const std::string ui_prefix = "/ui/";
  if (path.compare(0, ui_prefix.size(), ui_prefix) == 0) {
    r.key_raw = path.substr(ui_prefix.size());
    set(endpoint::ui, "GET, HEAD", get, false, body_kind::small);
    return r;
  }
  if (path == "/v1/health")
    set(endpoint::health, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/health/ready")
    set(endpoint::health_ready, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/self")
    set(endpoint::self, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/members")
    set(endpoint::members, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/kv")
    set(endpoint::kv_root, "GET, HEAD", get, false, body_kind::small,
        {"watch", "index", "wait", "prefix", "recurse"});
  else if (path == "/v1/metadata")
    set(endpoint::metadata, "GET, HEAD, PUT", get || method == "PUT",
        method == "PUT", method == "PUT" ? body_kind::value : body_kind::small);
  else if (path == "/v1/join")
    set(endpoint::join, "POST", method == "POST", true, body_kind::json,
        {"wait"});
  else if (path == "/v1/leave")
    set(endpoint::leave, "POST", method == "POST", true, body_kind::small);
  else if (path == "/v1/rejoin")
    set(endpoint::rejoin, "POST", method == "POST", true, body_kind::small);
  else if (path == "/v1/tags")
    set(endpoint::tags, "PUT, PATCH", method == "PUT" || method == "PATCH",
        true, body_kind::json);
  else if (path == "/ui")
    set(endpoint::ui_redirect, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/events")
    set(endpoint::events, "GET", method == "GET", false, body_kind::small,
        {"index", "type", "prefix"});
  else if (path == "/metrics")
    set(endpoint::metrics, "GET, HEAD", get, false, body_kind::small);
  else if (path == "/v1/snapshot")
    set(endpoint::snapshot, "GET, HEAD, PUT", get || method == "PUT",
        method == "PUT",
        method == "PUT" ? body_kind::snapshot : body_kind::small);
  else if (path == "/v1/force-leave")
    set(endpoint::force_leave, "POST", method == "POST", true, body_kind::json);
  else if (path == "/v1/keyring")
    set(endpoint::keyring, "GET, HEAD, POST, DELETE",
        get || method == "POST" || method == "DELETE",
        method == "POST" || method == "DELETE", body_kind::json,
        {"local", "timeout"});
  else if (path == "/v1/faults" && faults_enabled)
    set(endpoint::faults, "GET, HEAD, POST", get || method == "POST",
        method == "POST", body_kind::json);
  return r;
}

bool parse_target(request& req, std::string& why) {
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query.clear();
  if (q == std::string::npos)
    return true;
  auto rest = req.target.substr(q + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    auto amp = rest.find('&', start);
    auto item = rest.substr(start, amp == std::string::npos
                                     ? std::string::npos
                                     : amp - start);
    start = amp == std::string::npos ? rest.size() + 1 : amp + 1;
    if (item.empty())
      continue;
    auto eq = item.find('=');
    std::string k;
    std::string v;
    if (!percent_decode_query(item.substr(0, eq), k)
        || (eq != std::string::npos
            && !percent_decode_query(item.substr(eq + 1), v))) {
      why = "malformed percent-encoding in query parameter "
            + quote(item, 64);
      return false;
    }
    req.query.emplace_back(std::move(k), std::move(v));
  }
  return true;
}

// -- watch --------------------------------------------------------------------

bool watch_state::apply(const watch_batch& b) {
  // An index this node never assigned (it restarted), or changes after the
  // cursor the bounded history no longer holds: the client must re-list.
  bool lost = b.last_index < after || b.last_index < cursor
              || (!b.events.empty() && b.events.front().index > cursor + 1)
              || (b.events.empty() && b.truncated && cursor < b.last_index);
  if (lost) {
    truncated = true;
    picked.clear();
    cursor = b.last_index;
    return true;
  }
  for (auto& ev : b.events)
    if (ev.index > cursor && ev.key.compare(0, prefix.size(), prefix) == 0)
      picked.push_back(ev);
  // A capped batch covers up to its last event only; an empty or complete
  // one up to the head.
  uint64_t covered = b.events.empty() ? b.last_index : b.events.back().index;
  cursor = std::max(cursor, covered);
  return !picked.empty();
}

response watch_state::answer() const {
  json arr = json::array();
  for (auto& ev : picked)
    arr.push_back(
      json{{"index", ev.index},
           {"key", ev.key},
           {"kind", ev.kind == watch_event::change::put ? "put" : "delete"},
           {"version", ev.version}});
  auto r = reply(200, json{{"index", cursor},
                           {"truncated", truncated},
                           {"events", std::move(arr)}});
  r.headers.emplace_back("X-Pekonode-Index", std::to_string(cursor));
  return r;
}

// -- api ----------------------------------------------------------------------

api::api(admin_backend& backend, const admin_config& cfg,
         metrics_registry& stats, const std::atomic<bool>& stopping)
  : backend_(backend), cfg_(cfg), stats_(stats), stopping_(stopping),
    token_(cfg.token.empty() ? admin_token{} : admin_token{cfg.token}) {
  stats_.describe("pekonode_admin_requests_total", metric_kind::counter,
                  "Admin HTTP requests answered, by status code.");
  stats_.describe("pekonode_admin_refused_total", metric_kind::counter,
                  "Admin HTTP requests refused by an admission rule "
                  "(host, origin, token, csrf).");
}

void api::count(int status) const {
  stats_.add("pekonode_admin_requests_total",
             {{"code", std::to_string(status)}}, 1);
}

void api::refuse(const char* rule) const {
  stats_.add("pekonode_admin_refused_total", {{"rule", rule}}, 1);
}

size_t api::body_limit(const route& r) const {
  if (r.body == body_kind::snapshot)
    return cfg_.max_snapshot_bytes;
  if (r.body == body_kind::event)
    return cfg_.max_event_bytes;
  return r.body == body_kind::value ? cfg_.max_value_bytes
                                    : cfg_.max_json_body_bytes;
}

response api::too_large(const route& r, uint64_t size) const {
  std::string what = r.body == body_kind::value      ? "value"
                     : r.body == body_kind::snapshot ? "snapshot"
                     : r.body == body_kind::event    ? "event payload"
                                                     : "request body";
  std::string msg = size > 0 ? what + " of " + std::to_string(size)
                                 + " bytes exceeds the limit of "
                             : what + " exceeds the limit of ";
  msg += bytes_text(body_limit(r));
  if (r.body == body_kind::snapshot)
    msg += " (max_snapshot_bytes)";
  else if (r.body == body_kind::event)
    msg += " (name and payload together)";
  else if (r.body != body_kind::value)
    msg += " for this endpoint";
  return error(413, msg);
}

std::optional<response> api::admit(request& req, route& r) const {
  if (stopping_) {
    auto res = error(503, "node stopping");
    res.headers.emplace_back("Retry-After", "1");
    return res;
  }
  if (req.target.size() > cfg_.max_target_bytes)
    return error(414, "request target of " + std::to_string(req.target.size())
                        + " bytes exceeds the limit of "
                        + bytes_text(cfg_.max_target_bytes));
  if (!req.duplicate_header.empty())
    return error(400, "header " + req.duplicate_header
                        + " given more than once");
  if (!req.has_host && req.version == "HTTP/1.1")
    return error(400, "HTTP/1.1 request without a Host header");
  if (req.has_host) {
    if (auto why = check_host(req.host, cfg_.allowed_hosts); !why.empty()) {
      refuse("host");
      return error(403, why);
    }
  }
  if (auto why = check_origin(req.origin, req.host, req.tls); !why.empty()) {
    refuse("origin");
    return error(403, why);
  }
  std::string why;
  if (!parse_target(req, why))
    return error(400, why);
  r = match(req.method, req.path, cfg_.fault_injection);
  if (r.ep == endpoint::none)
    return error(404, "no such endpoint: " + quote(req.path, 128));
  if (req.method == "OPTIONS") {
    // No CORS headers: a browser's preflight fails, as it should.
    response res;
    res.status = 204;
    res.content_type.clear();
    res.headers.emplace_back("Allow", r.allow);
    return res;
  }
  if (!r.method_ok)
    return method_not_allowed(r, req.method);
  for (auto& param : req.query) {
    // A named reference, not a structured binding: lambdas may not capture
    // bindings before C++20 (clang 14 refuses; it builds the fuzz targets).
    const std::string& k = param.first;
    if (std::find_if(r.params.begin(), r.params.end(),
                     [&](const char* p) { return k == p; })
        == r.params.end()) {
      std::string accepted;
      for (auto* p : r.params)
        accepted += std::string{accepted.empty() ? "" : ", "} + p;
      return error(400, "unknown query parameter " + quote(k, 64) + " for "
                          + req.method + " " + endpoint_name(r.ep)
                          + (accepted.empty() ? " (it takes none)"
                                              : " (accepted: " + accepted
                                                  + ")"));
    }
    // Only a query's tag filters repeat (?tag=a=x&tag=b=y).
    bool repeatable = r.ep == endpoint::query && k == "tag";
    if (!repeatable
        && std::count_if(req.query.begin(), req.query.end(),
                         [&](auto& kv) { return kv.first == k; })
             > 1)
      return error(400, "query parameter " + quote(k, 64)
                          + " given more than once");
  }
  // Token: mutating calls need it when one is configured; reads too with
  // token_reads, except the probes.
  auto verdict = token_.configured() ? token_.check(req.authorization)
                                     : admin_token::verdict::missing;
  // The probes, and the UI's static files (public: a browser cannot send
  // the token with a page load; the page asks for it and sends it itself).
  bool probe = r.ep == endpoint::health || r.ep == endpoint::health_ready
               || r.ep == endpoint::ui || r.ep == endpoint::ui_redirect;
  bool needs_token = token_.configured()
                     && (r.mutating || (cfg_.token_reads && !probe));
  if (needs_token && verdict != admin_token::verdict::ok) {
    refuse("token");
    const char* msg = "";
    switch (verdict) {
      case admin_token::verdict::missing:
        msg = "this request needs the admin token: send "
              "\"Authorization: Bearer <token>\"";
        break;
      case admin_token::verdict::malformed:
        msg = "malformed Authorization header: expected \"Bearer <token>\"";
        break;
      default:
        msg = "wrong admin token";
    }
    auto res = error(401, msg);
    res.headers.emplace_back(
      "WWW-Authenticate",
      verdict == admin_token::verdict::wrong
        ? R"(Bearer realm="pekonode", error="invalid_token")"
        : R"(Bearer realm="pekonode")");
    return res;
  }
  // A web page may send a "simple" POST to any origin without a preflight;
  // without a token it would act with the victim's network position.
  if (r.mutating && verdict != admin_token::verdict::ok
      && cross_site_sendable(req.method, req.content_type)
      && !media_type(req.content_type).empty()) {
    refuse("csrf");
    return error(403, "POST with Content-Type "
                        + quote(media_type(req.content_type), 64)
                        + " refused: web pages can send it cross-site "
                          "(CSRF); use Content-Type: application/json or "
                          "the admin token");
  }
  if (req.content_length && *req.content_length > body_limit(r))
    return too_large(r, *req.content_length);
  return std::nullopt;
}

bool api::watch_request(const request& req, const route& r, watch_state& w,
                        std::optional<response>& err) const {
  if (r.ep != endpoint::kv_root)
    return false;
  bool on = false;
  if (!flag_value(req.param("watch"), on)) {
    err = error(400, "watch must be 1, true, 0 or false");
    return true;
  }
  if (!on) {
    for (auto* p : {"index", "wait"})
      if (req.param(p) != nullptr) {
        err = error(400, std::string{"query parameter \""} + p
                           + "\" needs watch=1");
        return true;
      }
    return false;
  }
  if (req.param("recurse") != nullptr) {
    err = error(400, "recurse cannot be combined with watch");
    return true;
  }
  w = watch_state{};
  if (auto* text = req.param("index")) {
    if (text->empty() || text->size() > 20
        || text->find_first_not_of("0123456789") != std::string::npos) {
      err = error(400, "index must be a non-negative integer");
      return true;
    }
    try {
      w.after = std::stoull(*text);
    } catch (const std::exception&) {
      err = error(400, "index must fit in 64 bits");
      return true;
    }
  }
  duration wait = cfg_.default_watch_wait;
  if (auto* text = req.param("wait"); text != nullptr && !parse_wait(*text, wait)) {
    err = error(400, "wait must look like 500ms, 10s, 2m or 10");
    return true;
  }
  wait = std::min(wait, cfg_.max_watch_wait);
  w.cursor = w.after;
  if (auto* p = req.param("prefix"))
    w.prefix = *p;
  w.deadline = steady::now() + wait;
  return true;
}

response api::handle(const request& req, const route& r) {
  try {
    bool get = req.method == "GET" || req.method == "HEAD";
    switch (r.ep) {
      case endpoint::health:
        return health(false);
      case endpoint::health_ready:
        return health(true);
      case endpoint::self:
        return self_info();
      case endpoint::members:
        return members();
      case endpoint::kv_root: {
        bool recurse = false;
        if (!flag_value(req.param("recurse"), recurse))
          return error(400, "recurse must be 1, true, 0 or false");
        auto* p = req.param("prefix");
        return kv_list(req, p != nullptr ? *p : std::string{});
      }
      case endpoint::kv_key:
        if (get)
          return kv_get(req, r);
        if (req.method == "PUT")
          return kv_put(req, r);
        return kv_del(req, r);
      case endpoint::metadata:
        return get ? metadata_get() : metadata_put(req);
      case endpoint::join:
        return join(req);
      case endpoint::leave:
        return action(backend_.leave());
      case endpoint::rejoin:
        return action(backend_.rejoin());
      case endpoint::tags:
        return req.method == "PATCH" ? tags_patch(req) : tags_put(req);
      case endpoint::metrics:
        return metrics();
      case endpoint::faults:
        return get ? faults_get() : faults_post(req);
      case endpoint::snapshot:
        return get ? snapshot_get() : snapshot_put(req);
      case endpoint::force_leave:
        return force_leave(req);
      case endpoint::user_event:
        return user_event(req, r);
      case endpoint::query:
        return query(req, r);
      case endpoint::keyring:
        return keyring_call(req);
      case endpoint::ui:
        return ui_asset(r.key_raw);
      case endpoint::ui_redirect: {
        response res;
        res.status = 308;
        res.content_type = "text/plain; charset=utf-8";
        res.body = "the cluster view is at /ui/\n";
        res.headers.emplace_back("Location", "/ui/");
        return res;
      }
      case endpoint::events:
        // Streams are served by the server's stream hub, never here.
        return error(503, "the event stream is not available on this node");
      case endpoint::none:
        break;
    }
    return error(404, "no such endpoint: " + quote(req.path, 128));
  } catch (const std::exception& e) {
    return error(500, std::string{"internal error: "} + e.what());
  }
}

// -- handlers -----------------------------------------------------------------

response api::ui_asset(const std::string& name) {
  auto* a = ui::find_asset(name.empty() ? "index.html" : name);
  if (a == nullptr)
    return error(404, "no such file in the cluster view: " + quote(name, 64));
  response res;
  res.content_type = std::string{a->content_type};
  res.body.assign(a->data, a->size);
  res.headers.emplace_back(
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("ETag", std::string{a->etag});
  return res;
}

response api::health(bool ready) {
  if (stopping_ || !backend_.healthy()) {
    auto r = reply(503, ready ? json{{"ready", false},
                                     {"status", "stopping"},
                                     {"error", "node stopping"}}
                              : json{{"status", "stopping"},
                                     {"error", "node stopping"}});
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  node_status st;
  if (auto res = backend_.status(st); !res.ok()) {
    auto r = from_result(res);
    if (r.status == 503)
      r = reply(503, json{{"status", "unavailable"}, {"error", res.detail}});
    return r;
  }
  if (st.state == "left")
    return reply(503, ready ? json{{"ready", false},
                                   {"status", "left"},
                                   {"error", "node has left the cluster"}}
                            : json{{"status", "left"},
                                   {"error", "node has left the cluster"}});
  if (!ready)
    return reply(200, json{{"status", "ok"}});
  if (st.alive_peers > 0)
    return reply(200, json{{"ready", true},
                           {"status", "joined"},
                           {"alive_peers", st.alive_peers}});
  if (!cfg_.expect_peers && !join_requested_)
    return reply(200, json{{"ready", true},
                           {"status", "standalone"},
                           {"alive_peers", 0}});
  return reply(503, json{{"ready", false},
                         {"status", "joining"},
                         {"alive_peers", 0},
                         {"error", "no other member is alive yet"}});
}

response api::self_info() {
  self_view v;
  if (auto res = backend_.self(v); !res.ok())
    return from_result(res);
  return reply(200, json{{"name", v.name},
                         {"addr", v.addr},
                         {"incarnation", v.incarnation},
                         {"tags", tags_json(v.tags)}});
}

response api::members() {
  std::vector<member_view> ms;
  if (auto res = backend_.members(ms); !res.ok())
    return from_result(res);
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
  return reply(200, json{{"members", std::move(arr)}});
}

response api::kv_list(const request& req, const std::string& prefix) {
  bool recurse = false;
  flag_value(req.param("recurse"), recurse);
  kv_scan_view scan;
  if (auto res = backend_.kv_scan(prefix, recurse, cfg_.max_recurse_bytes,
                                  scan);
      !res.ok())
    return from_result(res);
  json arr = json::array();
  for (size_t i = 0; i < scan.entries.size(); ++i) {
    auto& e = scan.entries[i];
    json item{{"key", e.key},
              {"version", e.version},
              {"origin", e.origin},
              {"size", e.size},
              {"updated_unix_ms", e.updated_unix_ms}};
    if (recurse)
      item["value"] = base64_encode(scan.values[i]);
    arr.push_back(std::move(item));
  }
  auto r = reply(200, json{{"index", scan.index}, {"keys", std::move(arr)}});
  r.headers.emplace_back("X-Pekonode-Index", std::to_string(scan.index));
  return r;
}

std::optional<response> api::decode_key(const std::string& raw,
                                        std::string& key) const {
  if (!percent_decode(raw, key))
    return error(400, "malformed percent-encoding in key");
  if (key.empty())
    return error(400, "empty key");
  if (key.size() > cfg_.max_key_bytes)
    return error(400, "key of " + std::to_string(key.size())
                        + " bytes is longer than the limit of "
                        + bytes_text(cfg_.max_key_bytes));
  return std::nullopt;
}

response api::kv_get(const request& req, const route& r) {
  std::string key;
  bool recurse = false;
  if (!flag_value(req.param("recurse"), recurse))
    return error(400, "recurse must be 1, true, 0 or false");
  if (recurse) {
    // Consul's form: /v1/kv/{prefix}?recurse (an empty prefix is /v1/kv).
    if (!percent_decode(r.key_raw, key))
      return error(400, "malformed percent-encoding in key");
    return kv_list(req, key);
  }
  if (auto err = decode_key(r.key_raw, key))
    return *err;
  kv_value_view v;
  if (auto res = backend_.kv_read(key, v); !res.ok()) {
    if (res.code == result_code::not_found)
      return error(404, "no such key");
    return from_result(res);
  }
  response out;
  out.content_type = "application/octet-stream";
  out.body = std::move(v.value);
  out.headers.emplace_back("X-Pekonode-Version", v.version);
  out.headers.emplace_back("X-Pekonode-Origin", v.origin);
  out.headers.emplace_back("X-Pekonode-Index", std::to_string(v.index));
  return out;
}

namespace {

/// Whether `text` has the form of a version as the API prints it
/// ("physical.logical@origin": digits, digits, 1..128 visible ASCII).
bool version_text(const std::string& text) {
  auto dot = text.find('.');
  auto at = text.find('@');
  if (dot == std::string::npos || at == std::string::npos || dot == 0
      || dot > 15 || at <= dot + 1 || at - dot > 6 || at + 1 >= text.size()
      || text.size() - at - 1 > 128)
    return false;
  for (size_t i = 0; i < at; ++i)
    if (i != dot && (text[i] < '0' || text[i] > '9'))
      return false;
  for (size_t i = at + 1; i < text.size(); ++i)
    if (text[i] < 0x21 || text[i] > 0x7e)
      return false;
  return true;
}

} // namespace

response api::kv_write(const request& req, const route& r, bool del) {
  std::string key;
  if (auto err = decode_key(r.key_raw, key))
    return *err;
  kv_write_options o;
  o.del = del;
  o.timeout = cfg_.default_write_wait;
  if (auto* cas = req.param("cas")) {
    if (*cas != "0" && !version_text(*cas))
      return error(400, "cas must be 0 (create only) or a version as "
                        "X-Pekonode-Version prints it, e.g. "
                        "1732800000123.0@node-1");
    if (del && *cas == "0")
      return error(400, "cas=0 (create only) cannot apply to DELETE: name "
                        "the version to delete");
    o.cas = *cas;
  }
  if (auto* k = req.param("replicas")) {
    bool digits = !k->empty() && k->size() <= 4
                  && std::all_of(k->begin(), k->end(),
                                 [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(*k) == 0)
      return error(400, "replicas must be a whole number of nodes >= 1 (this "
                        "one included)");
    o.replicas = static_cast<uint32_t>(std::stoul(*k));
  }
  if (auto* t = req.param("timeout")) {
    if (!parse_wait(*t, o.timeout) || o.timeout <= duration::zero())
      return error(400, "timeout must look like 500ms, 10s or 1m and be "
                        "above 0");
    if (o.timeout > cfg_.max_write_wait)
      return error(400, "timeout longer than the limit of "
                          + std::to_string(std::chrono::duration_cast<
                                             std::chrono::seconds>(
                                             cfg_.max_write_wait)
                                             .count())
                          + " s");
  }
  // A replicated write holds its worker up to its timeout: bounded, so the
  // other requests keep a worker.
  struct wait_slot {
    std::atomic<size_t>* n = nullptr;
    ~wait_slot() {
      if (n != nullptr)
        n->fetch_sub(1);
    }
  } slot;
  if (o.replicas > 1) {
    auto limit = std::max<size_t>(
      1, std::min(cfg_.max_replica_waits,
                  cfg_.threads > 1 ? cfg_.threads - 1 : size_t{1}));
    if (replica_waits_.fetch_add(1) >= limit) {
      replica_waits_.fetch_sub(1);
      auto res = error(503, "too many writes are waiting for replicas (limit "
                              + std::to_string(limit) + "); retry");
      res.headers.emplace_back("Retry-After", "1");
      return res;
    }
    slot.n = &replica_waits_;
  }
  kv_write_view v;
  auto res = backend_.kv_write(key, del ? std::string{} : req.body, o, v);
  switch (res.code) {
    case result_code::ok:
      return reply(200, json{{"key", key},
                             {"version", v.version},
                             {"acked", v.acked},
                             {"wanted", v.wanted}});
    case result_code::precondition_failed:
      return reply(412, json{{"error", res.detail},
                             {"key", key},
                             {"current", v.current.empty()
                                           ? json(nullptr)
                                           : json(v.current)}});
    case result_code::timeout:
      if (v.applied)
        return reply(504, json{{"error", res.detail},
                               {"key", key},
                               {"version", v.version},
                               {"acked", v.acked},
                               {"wanted", v.wanted},
                               {"applied", true}});
      break;
    case result_code::unavailable:
      if (v.wanted > 1) {
        auto out = reply(503, json{{"error", res.detail},
                                   {"key", key},
                                   {"acked", 0},
                                   {"wanted", v.wanted},
                                   {"applied", false}});
        out.headers.emplace_back("Retry-After", "1");
        return out;
      }
      break;
    case result_code::not_found:
      return error(404, "no such key");
    default:
      break;
  }
  return from_result(res);
}

response api::kv_put(const request& req, const route& r) {
  if (!req.query.empty())
    return kv_write(req, r, false);
  std::string key;
  if (auto err = decode_key(r.key_raw, key))
    return *err;
  auto res = backend_.kv_put(key, req.body);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"key", key}, {"version", res.detail}});
}

response api::kv_del(const request& req, const route& r) {
  if (!req.query.empty())
    return kv_write(req, r, true);
  std::string key;
  if (auto err = decode_key(r.key_raw, key))
    return *err;
  auto res = backend_.kv_del(key);
  if (!res.ok()) {
    if (res.code == result_code::not_found)
      return error(404, "no such key");
    return from_result(res);
  }
  return reply(200, json{{"key", key}, {"version", res.detail}});
}

response api::metadata_get() {
  std::string value;
  if (auto res = backend_.metadata_get(value); !res.ok()) {
    if (res.code == result_code::not_found)
      return error(404, "no metadata published");
    return from_result(res);
  }
  response out;
  out.content_type = "application/octet-stream";
  out.body = std::move(value);
  return out;
}

response api::metadata_put(const request& req) {
  auto res = backend_.metadata_put(req.body);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"version", res.detail}});
}

// -- user events and queries ---------------------------------------------------

namespace {

/// Event and query names: 1..128 visible ASCII characters (no space).
bool valid_event_name(const std::string& name) {
  if (name.empty() || name.size() > 128)
    return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f)
      return false;
  return true;
}

// pekonode's own queries (userevents::internal_prefix).
constexpr const char* reserved_prefix = "_pekonode";

bool reserved_event_name(const std::string& name) {
  return name.compare(0, std::strlen(reserved_prefix), reserved_prefix) == 0;
}

} // namespace

response api::user_event(const request& req, const route& r) {
  std::string name;
  if (!percent_decode(r.key_raw, name))
    return error(400, "malformed percent-encoding in event name");
  if (!valid_event_name(name))
    return error(400, "event name must be 1 to 128 visible ASCII characters "
                      "without spaces");
  if (reserved_event_name(name))
    return error(400, std::string{"event names starting with "}
                        + reserved_prefix + " are reserved");
  bool coalesce = false;
  if (!flag_value(req.param("coalesce"), coalesce))
    return error(400, "coalesce must be 1, true, 0 or false");
  if (name.size() + req.body.size() > cfg_.max_event_bytes)
    return error(413, "event name and payload are "
                        + std::to_string(name.size() + req.body.size())
                        + " bytes, above the limit of "
                        + bytes_text(cfg_.max_event_bytes));
  user_event_view ev;
  auto res = backend_.send_event(name, req.body, coalesce, ev);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"name", ev.name},
                         {"id", ev.id},
                         {"ltime", ev.ltime},
                         {"origin", ev.origin},
                         {"coalesce", ev.coalesce},
                         {"size", ev.payload.size()}});
}

response api::query(const request& req, const route& r) {
  query_request q;
  if (!percent_decode(r.key_raw, q.name))
    return error(400, "malformed percent-encoding in query name");
  if (!valid_event_name(q.name))
    return error(400, "query name must be 1 to 128 visible ASCII characters "
                      "without spaces");
  if (reserved_event_name(q.name))
    return error(400, std::string{"query names starting with "}
                        + reserved_prefix + " are reserved");
  if (q.name.size() + req.body.size() > cfg_.max_event_bytes)
    return error(413, "query name and payload are "
                        + std::to_string(q.name.size() + req.body.size())
                        + " bytes, above the limit of "
                        + bytes_text(cfg_.max_event_bytes));
  q.payload = req.body;
  if (auto* text = req.param("timeout")) {
    if (!parse_wait(*text, q.timeout) || q.timeout <= duration::zero())
      return error(400, "timeout must look like 500ms, 10s or 2m, above 0");
    if (q.timeout > cfg_.max_query_timeout)
      return error(400, "timeout longer than the limit of "
                          + std::to_string(std::chrono::duration_cast<
                                             std::chrono::seconds>(
                                             cfg_.max_query_timeout)
                                             .count())
                          + " s");
  }
  for (auto& [k, v] : req.query) {
    if (k == "node") {
      if (!q.node_filter.empty())
        return error(400, "node may be given once");
      q.node_filter = v;
    } else if (k == "tag") {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        return error(400, "tag must be KEY=REGEX");
      q.tags.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    }
  }
  if (q.tags.size() > 8)
    return error(400, "at most 8 tag filters");
  if (auto busy = take_query_slot())
    return *busy;
  query_outcome out;
  auto res = backend_.run_query(q, out);
  query_waits_.fetch_sub(1);
  if (!res.ok())
    return from_result(res);
  json responses = json::object();
  for (auto& [node, payload] : out.responses)
    responses[node] = payload;
  return reply(200, json{{"id", out.id},
                         {"name", q.name},
                         {"acks", out.acks},
                         {"responses", responses},
                         {"stragglers", out.stragglers},
                         {"counts", {{"expected", out.expected},
                                     {"acks", out.acks.size()},
                                     {"responses", out.responses.size()},
                                     {"stragglers", out.stragglers.size()}}}});
}

response api::action(const result& res) {
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"ok", true}, {"detail", res.detail}});
}

response api::join(const request& req) {
  duration wait = duration::zero();
  if (auto* text = req.param("wait"); text != nullptr && !parse_wait(*text, wait))
    return error(400, "wait must look like 500ms, 10s, 2m or 10");
  if (wait > cfg_.max_join_wait)
    return error(400, "wait longer than the limit of "
                        + std::to_string(std::chrono::duration_cast<
                                           std::chrono::seconds>(
                                           cfg_.max_join_wait)
                                           .count())
                        + " s");
  json body;
  std::optional<response> err;
  if (!parse_object(req.body, body, err))
    return *err;
  auto i = body.find("seeds");
  if (i == body.end() || !i->is_array() || i->empty())
    return error(400, "expected {\"seeds\":[\"host:port\",...]} with at "
                      "least one seed");
  if (i->size() > max_join_seeds)
    return error(400, "too many seeds (limit " + std::to_string(max_join_seeds)
                        + ")");
  std::vector<std::string> seeds;
  for (auto& s : *i) {
    if (!s.is_string())
      return error(400, "seeds must be strings");
    host_endpoint ep;
    if (auto e = parse_host_endpoint(s.get<std::string>(), ep); !e.empty())
      return error(400, "seed: " + e);
    seeds.push_back(ep.to_string());
  }
  if (wait == duration::zero()) {
    auto res = backend_.join(seeds);
    if (res.ok())
      join_requested_ = true;
    return action(res);
  }
  // A waiting join holds a worker thread: one at a time.
  if (join_waits_.fetch_add(1) > 0) {
    join_waits_.fetch_sub(1);
    auto res = error(503, "another join is already waiting for its seeds; "
                          "retry when it has finished");
    res.headers.emplace_back("Retry-After", "1");
    return res;
  }
  join_requested_ = true;
  auto res = backend_.join_wait(seeds, wait);
  join_waits_.fetch_sub(1);
  return action(res);
}

response api::tags_put(const request& req) {
  json body;
  std::optional<response> err;
  if (!parse_object(req.body, body, err))
    return *err;
  if (body.size() > max_tags)
    return error(400, "too many tags (limit " + std::to_string(max_tags)
                        + ")");
  tag_map tags;
  for (auto& [k, v] : body.items()) {
    if (!v.is_string())
      return error(400, "tag " + quote(k, 64) + " must be a string");
    tags.emplace(k, v.get<std::string>());
  }
  if (auto e = validate_tags(tags); !e.empty())
    return error(400, e);
  std::lock_guard<std::mutex> guard{tags_mtx_};
  auto res = backend_.set_tags(tags);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"ok", true}, {"tags", tags_json(tags)}});
}

// JSON merge patch (RFC 7396) of this node's tags: a string sets a tag, null
// deletes it; tags not named keep their value. Read, patch and write happen
// under one lock, so two concurrent patches both land.
response api::tags_patch(const request& req) {
  json body;
  std::optional<response> err;
  if (!parse_object(req.body, body, err))
    return *err;
  if (body.size() > 2 * max_tags)
    return error(400, "too many tags in one patch (limit "
                        + std::to_string(2 * max_tags) + ")");
  for (auto& [k, v] : body.items())
    if (!v.is_string() && !v.is_null())
      return error(400, "tag " + quote(k, 64)
                          + " must be a string (set) or null (delete)");
  std::lock_guard<std::mutex> guard{tags_mtx_};
  self_view me;
  if (auto res = backend_.self(me); !res.ok())
    return from_result(res);
  tag_map tags = me.tags;
  for (auto& [k, v] : body.items()) {
    if (v.is_null())
      tags.erase(k);
    else
      tags[k] = v.get<std::string>();
  }
  if (tags.size() > max_tags)
    return error(400, "too many tags (limit " + std::to_string(max_tags)
                        + ")");
  if (auto e = validate_tags(tags); !e.empty())
    return error(400, e);
  auto res = backend_.set_tags(tags);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"ok", true}, {"tags", tags_json(tags)}});
}

response api::metrics() {
  std::string text;
  if (auto res = backend_.metrics(text); !res.ok())
    return from_result(res);
  if (!text.empty() && text.back() != '\n')
    text += '\n';
  stats_.render_to(text);
  for (auto* extra : cfg_.extra_metrics)
    if (extra != nullptr)
      extra->render_to(text);
  response out;
  out.content_type = "text/plain; version=0.0.4";
  out.body = std::move(text);
  return out;
}

namespace {

json faults_json(const fault_settings& f) {
  return json{{"enabled", true},
              {"drop_rate", f.drop_rate},
              {"blocked", f.blocked},
              {"delay_ms", f.delay_ms},
              {"jitter_ms", f.jitter_ms}};
}

} // namespace

// -- snapshot save / restore, force-leave --------------------------------------

namespace {

/// Holds the one-at-a-time flag of snapshot calls for a scope.
class busy_flag {
 public:
  explicit busy_flag(std::atomic<bool>& f) : f_(f), held_(!f.exchange(true)) {}
  ~busy_flag() {
    if (held_)
      f_ = false;
  }
  bool held() const { return held_; }

 private:
  std::atomic<bool>& f_;
  bool held_;
};

response snapshot_busy() {
  auto r = error(503, "another snapshot save or restore is running; retry");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

} // namespace

response api::snapshot_get() {
  busy_flag busy{snapshot_busy_};
  if (!busy.held())
    return snapshot_busy();
  std::string file;
  auto res = backend_.snapshot_save(cfg_.max_snapshot_bytes, file);
  if (!res.ok())
    return from_result(res);
  response out;
  out.content_type = "application/octet-stream";
  out.body = std::move(file);
  out.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"pekonode.snap\"");
  return out;
}

response api::snapshot_put(const request& req) {
  busy_flag busy{snapshot_busy_};
  if (!busy.held())
    return snapshot_busy();
  if (req.body.empty())
    return error(400, "empty body: send a snapshot file (pekoctl snapshot "
                      "save writes one)");
  restore_view v;
  auto res = backend_.snapshot_restore(req.body, v);
  if (!res.ok())
    return from_result(res);
  return reply(200, json{{"records", v.records},
                         {"applied", v.applied},
                         {"stale", v.stale},
                         {"tombstones", v.tombstones},
                         {"source_node", v.source_node},
                         {"source_cluster", v.source_cluster}});
}

response api::force_leave(const request& req) {
  json body;
  std::optional<response> err;
  if (!parse_object(req.body, body, err))
    return *err;
  auto i = body.find("name");
  if (i == body.end() || !i->is_string() || body.size() != 1)
    return error(400, "expected {\"name\":\"NODE\"}");
  auto name = i->get<std::string>();
  if (auto why = validate_name(name); !why.empty())
    return error(400, "name: " + why);
  auto res = backend_.force_leave(name);
  if (!res.ok()) {
    if (res.code == result_code::not_found)
      return error(404, "no member named " + quote(name, 140));
    return from_result(res);
  }
  return reply(200, json{{"ok", true}, {"detail", res.detail}});
}

response api::faults_get() {
  fault_settings f;
  if (auto res = backend_.faults(f); !res.ok())
    return from_result(res);
  return reply(200, faults_json(f));
}

// Partial update: fields left out keep their current value.
response api::faults_post(const request& req) {
  json body;
  std::optional<response> err;
  if (!parse_object(req.body, body, err))
    return *err;
  fault_settings f;
  if (auto res = backend_.faults(f); !res.ok())
    return from_result(res);
  for (auto& [k, v] : body.items()) {
    if (k == "drop_rate") {
      if (!v.is_number())
        return error(400, "drop_rate must be a number");
      double rate = v.get<double>();
      if (!std::isfinite(rate) || rate < 0.0 || rate > 1.0)
        return error(400, "drop_rate must be in [0, 1]");
      f.drop_rate = rate;
    } else if (k == "blocked") {
      if (!v.is_array())
        return error(400, "blocked must be an array");
      if (v.size() > max_blocked_peers)
        return error(400, "too many blocked peers (limit "
                            + std::to_string(max_blocked_peers) + ")");
      std::vector<address> blocked;
      for (auto& p : v) {
        if (!p.is_string())
          return error(400, "blocked entries must be strings");
        ip_endpoint ep;
        if (auto e = parse_ip_endpoint(p.get<std::string>(), false, ep);
            !e.empty())
          return error(400, "blocked: " + e);
        blocked.push_back(ep.to_string());
      }
      std::sort(blocked.begin(), blocked.end());
      blocked.erase(std::unique(blocked.begin(), blocked.end()),
                    blocked.end());
      f.blocked = std::move(blocked);
    } else if (k == "delay_ms" || k == "jitter_ms") {
      // Whole milliseconds: 50 and 50.0 are fine, 50.5, -1 and "50" not.
      auto limit = std::to_string(max_fault_delay_ms);
      if (!v.is_number()
          || (v.is_number_float() && v.get<double>() != std::floor(v.get<double>())))
        return error(400, k + " must be a whole number of milliseconds");
      double ms = v.get<double>();
      if (!std::isfinite(ms) || ms < 0.0 || ms > max_fault_delay_ms)
        return error(400, k + " must be in [0, " + limit + "]");
      (k == "delay_ms" ? f.delay_ms : f.jitter_ms) = static_cast<uint32_t>(ms);
    } else {
      return error(400, "unknown field " + quote(k, 64)
                          + " (expected drop_rate, blocked, delay_ms, "
                            "jitter_ms)");
    }
  }
  if (f.jitter_ms > f.delay_ms)
    return error(400, "jitter_ms (" + std::to_string(f.jitter_ms)
                        + ") must not exceed delay_ms ("
                        + std::to_string(f.delay_ms)
                        + "): a datagram cannot arrive before it was sent");
  if (auto res = backend_.set_faults(f); !res.ok())
    return from_result(res);
  return reply(200, faults_json(f));
}

// GET lists; POST {"install": KEY} or {"use": KEY-or-FINGERPRINT};
// DELETE {"key": KEY-or-FINGERPRINT}. Keys travel in bodies, never in the
// target (which logs and proxies record); replies name keys only by
// fingerprint. Carried to every live member unless ?local is given.
response api::keyring_call(const request& req) {
  keyring_op op = keyring_op::list;
  std::string key;
  if (req.method == "POST" || req.method == "DELETE") {
    json body;
    std::optional<response> err;
    if (!parse_object(req.body, body, err))
      return *err;
    const bool post = req.method == "POST";
    const char* expected = post ? "install or use" : "key";
    if (body.size() != 1)
      return error(400, std::string{"the body must hold exactly one field: "}
                          + expected);
    auto field = body.begin(); // an object: key() names the field
    const std::string k = field.key();
    const json& v = field.value();
    if (post && k == "install")
      op = keyring_op::install;
    else if (post && k == "use")
      op = keyring_op::use;
    else if (!post && k == "key")
      op = keyring_op::remove;
    else
      return error(400, "unknown field " + quote(k, 64) + " (expected "
                          + expected + ")");
    if (!v.is_string())
      return error(400, k + " must be a string: a key (base64 or hex) or "
                            "a key fingerprint");
    key = v.get<std::string>();
    if (key.size() > 128)
      return error(400, k + " is longer than any key (128 bytes at most)");
  }
  bool local = false;
  if (!flag_value(req.param("local"), local))
    return error(400, "local must be 1, true, 0 or false");
  duration timeout = cfg_.keyring_timeout;
  if (auto* text = req.param("timeout")) {
    if (local)
      return error(400, "timeout applies to cluster-wide commands, not ?local");
    if (!parse_wait(*text, timeout) || timeout <= duration::zero()
        || timeout > cfg_.max_query_timeout)
      return error(400, "timeout must look like 500ms, 10s or 1m, above 0 "
                        "and at most "
                          + std::to_string(std::chrono::duration_cast<
                                             std::chrono::seconds>(
                                             cfg_.max_query_timeout)
                                             .count())
                          + " s");
  }
  if (local)
    return local_keyring(op, key);
  // A cluster-wide command waits for every member's answer: it takes one
  // of the query slots.
  if (auto busy = take_query_slot())
    return *busy;
  cluster_keyring_view view;
  auto res = backend_.cluster_keyring(op, key, timeout, view);
  query_waits_.fetch_sub(1);
  if (!res.ok())
    return from_result(res);
  json keys = json::array();
  const uint64_t ok_nodes = view.responded - view.errors.size();
  std::string primary;
  for (auto& k : view.keys) {
    keys.push_back(json{{"fingerprint", k.fingerprint},
                        {"nodes", k.nodes},
                        {"primary_on", k.primary}});
    if (ok_nodes > 0 && k.primary == ok_nodes)
      primary = k.fingerprint;
  }
  json out{{"nodes", view.expected},
           {"responded", view.responded},
           {"keys", std::move(keys)},
           {"primary", primary},
           {"errors", view.errors},
           {"missing", view.missing}};
  if (op != keyring_op::list) {
    out["changed"] = view.changed;
    out["persisted"] = view.persisted;
  }
  if (view.complete())
    return reply(200, out);
  // Some nodes failed or did not answer: the tally says which; the
  // command may be repeated (every step is idempotent).
  std::string why = std::to_string(view.errors.size() + view.missing.size())
                    + " of " + std::to_string(std::max<uint64_t>(
                                 view.expected, view.responded))
                    + " nodes did not take the command";
  if (!view.errors.empty())
    why += "; " + view.errors.begin()->first + ": "
           + view.errors.begin()->second;
  else
    why += "; no answer from " + view.missing.front();
  out["error"] = why.substr(0, 512);
  return reply(500, out);
}

std::optional<response> api::take_query_slot() {
  if (query_waits_.fetch_add(1) < cfg_.max_query_waits)
    return std::nullopt;
  query_waits_.fetch_sub(1);
  auto res = error(503, "already " + std::to_string(cfg_.max_query_waits)
                          + " queries or keyring commands waiting for "
                            "answers; retry when one has finished");
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

response api::local_keyring(keyring_op op, const std::string& key) {
  keyring_view view;
  if (auto res = backend_.keyring(op, key, view); !res.ok())
    return from_result(res);
  json keys = json::array();
  std::string primary;
  for (auto& kv : view.keys) {
    keys.push_back(json{{"fingerprint", kv.fingerprint},
                        {"primary", kv.primary}});
    if (kv.primary)
      primary = kv.fingerprint;
  }
  json out{{"keys", std::move(keys)}, {"primary", primary}};
  if (op != keyring_op::list) {
    out["changed"] = view.changed;
    out["persisted"] = view.persisted;
  }
  return reply(200, out);
}

} // namespace pekonode::node::http
