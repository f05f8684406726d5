#include "fuzz/admin_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "fuzz/check.h"
#include "node/admin_http.h"
#include "node/admin_http_api.h"
#include "node/fake_admin_backend.h"

namespace pekonode::fuzz {

namespace {

using node::admin_backend;
using node::result;

// The fake backend keeps every key it is given; a fresh one per request keeps
// runs reproducible and memory flat. Requests are over (the reply was read to
// the end) when the next one starts, so swapping is safe.
class fresh_backend : public admin_backend {
public:
  fresh_backend() { reset(); }

  void reset() {
    std::lock_guard<std::mutex> g{mtx_};
    inner_ = std::make_unique<node::fake_admin_backend>();
    inner_->max_value = 2048;
    inner_->history = 16;
  }

  result self(node::self_view& out) override { return b().self(out); }
  result members(std::vector<node::member_view>& out) override {
    return b().members(out);
  }
  result kv_list(std::vector<node::kv_entry_view>& out) override {
    return b().kv_list(out);
  }
  result kv_get(const std::string& key, std::string& value) override {
    return b().kv_get(key, value);
  }
  result kv_put(const std::string& key, std::string value) override {
    return b().kv_put(key, std::move(value));
  }
  result kv_del(const std::string& key) override { return b().kv_del(key); }
  result kv_watch(uint64_t after, duration timeout,
                  node::watch_batch& out) override {
    return b().kv_watch(after, timeout, out);
  }
  result metadata_get(std::string& value) override {
    return b().metadata_get(value);
  }
  result metadata_put(std::string value) override {
    return b().metadata_put(std::move(value));
  }
  result join(const std::vector<std::string>& seeds) override {
    return b().join(seeds);
  }
  result leave() override { return b().leave(); }
  result rejoin() override { return b().rejoin(); }
  result set_tags(const node::tag_map& tags) override {
    return b().set_tags(tags);
  }
  result faults(node::fault_settings& out) override { return b().faults(out); }
  result set_faults(const node::fault_settings& s) override {
    return b().set_faults(s);
  }
  result metrics(std::string& out) override { return b().metrics(out); }
  bool healthy() override { return b().healthy(); }
  result send_event(const std::string& name, const std::string& payload,
                    bool coalesce, node::user_event_view& out) override {
    return b().send_event(name, payload, coalesce, out);
  }
  result run_query(const node::query_request& q,
                   node::query_outcome& out) override {
    return b().run_query(q, out);
  }

private:
  node::fake_admin_backend& b() {
    std::lock_guard<std::mutex> g{mtx_};
    return *inner_;
  }

  std::mutex mtx_;
  std::unique_ptr<node::fake_admin_backend> inner_;
};

struct server_state {
  fresh_backend backend;
  std::unique_ptr<node::admin_server> server;
};

// The configuration of both the servers and the direct path.
node::admin_config fuzz_config(bool with_token) {
  node::admin_config cfg;
  cfg.max_value_bytes = 2048;
  cfg.max_json_body_bytes = 4096;
  cfg.max_key_bytes = 128;
  cfg.max_target_bytes = 2048;
  cfg.max_recurse_bytes = 8192;
  // Raw bytes that stop mid-request end with the server's 408 (it does not
  // notice the half-close): the deadline is what such an input costs, so it
  // is short (50 ms runs admin_http_fuzzer ~12x faster than 500 ms did), and
  // well inside serve()'s 10 s. A structured request that meets it on a
  // loaded machine gets a 408, which no check counts as a finding.
  cfg.header_timeout = std::chrono::milliseconds{50};
  cfg.body_timeout = std::chrono::milliseconds{50};
  cfg.threads = 2;
  cfg.max_watchers = 1;
  // Watches and joins answer at once: a wait would only slow the fuzzer.
  cfg.max_watch_wait = duration::zero();
  cfg.default_watch_wait = duration::zero();
  cfg.max_join_wait = duration::zero();
  cfg.fault_injection = true;
  cfg.allowed_hosts = {std::string{admin_fuzz_allowed_host}};
  if (with_token)
    cfg.token = std::string{admin_fuzz_token};
  cfg.node_name = with_token ? "fuzz-token" : "fuzz";
  return cfg;
}

server_state* start_server(bool with_token) {
  auto* st = new server_state; // lives until exit; its threads serve it
  st->server = std::make_unique<node::admin_server>(st->backend,
                                                    fuzz_config(with_token));
  auto err = st->server->start("127.0.0.1", 0);
  FUZZ_CHECK(err.empty(), err.c_str());
  return st;
}

server_state& state(bool with_token) {
  static server_state* plain = start_server(false);
  static server_state* token = start_server(true);
  return *(with_token ? token : plain);
}

// serve_direct()'s side: the server's request logic without the server.
struct direct_state {
  explicit direct_state(bool with_token)
    : cfg(fuzz_config(with_token)), api(backend, cfg, stats, stopping) {}
  fresh_backend backend;
  const node::admin_config cfg;
  node::metrics_registry stats;
  std::atomic<bool> stopping{false};
  node::http::api api;
};

direct_state& direct(bool with_token) {
  static direct_state plain{false};
  static direct_state token{true};
  return with_token ? token : plain;
}

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c))
         || std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Bytes a request line may carry as they are; the rest is percent-encoded
// ('%' itself stays, so fuzzed escapes reach the server's decoder).
bool target_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

// Whether the first request the server reads is a HEAD: its reply has no
// body whatever its Content-Length says (the length of the GET body it
// stands for), so the bytes after its head belong to the next reply.
bool first_is_head(const admin_request& req) {
  if (!req.raw)
    return sent_method(req) == "HEAD";
  std::string_view b = req.raw_bytes;
  while (!b.empty() && (b.front() == '\r' || b.front() == '\n'))
    b.remove_prefix(1); // empty lines before a request line are skipped
  return b.substr(0, 5) == "HEAD ";
}

// Replies in `in`, the first into `out`. Only the first request's method is
// known here, so a later HEAD reply's Content-Length is taken as a body:
// the count of pipelined raw replies may be short (it is not checked).
size_t parse_replies(const std::string& in, bool head_first, admin_reply& out) {
  size_t pos = 0;
  size_t n = 0;
  while (pos < in.size()) {
    auto head_end = in.find("\r\n\r\n", pos);
    if (head_end == std::string::npos)
      break;
    auto head = std::string_view{in}.substr(pos, head_end - pos);
    int status = 0;
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/"
        || std::sscanf(std::string{head.substr(9, 3)}.c_str(), "%d", &status) != 1)
      break;
    std::vector<std::pair<std::string, std::string>> headers;
    size_t line = head.find("\r\n");
    size_t length = 0;
    while (line != std::string_view::npos) {
      auto next = head.find("\r\n", line + 2);
      auto h = head.substr(line + 2, next == std::string_view::npos
                                       ? std::string_view::npos
                                       : next - line - 2);
      auto colon = h.find(':');
      if (colon != std::string_view::npos) {
        auto v = h.substr(colon + 1);
        while (!v.empty() && v.front() == ' ')
          v.remove_prefix(1);
        headers.emplace_back(lower(h.substr(0, colon)), std::string{v});
        if (headers.back().first == "content-length")
          length = std::strtoull(headers.back().second.c_str(), nullptr, 10);
      }
      line = next;
    }
    size_t body_at = head_end + 4;
    if (status >= 100 && status < 200) { // interim (100 Continue): no body
      pos = body_at;
      continue;
    }
    if (n == 0 && head_first)
      length = 0;
    if (in.size() - body_at < length)
      break; // cut short
    if (n == 0) {
      out.status = status;
      out.headers = std::move(headers);
      out.body = in.substr(body_at, length);
    }
    ++n;
    pos = body_at + length;
  }
  return n;
}

} // namespace

admin_request parse_fuzz_request(std::string_view input) {
  admin_request r;
  auto take_line = [&] {
    auto nl = input.find('\n');
    auto line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    return line;
  };
  auto first = take_line();
  if (first == "RAW") {
    r.raw = true;
    r.raw_bytes = std::string{input};
    return r;
  }
  auto sp = first.find(' ');
  r.method = std::string{first.substr(0, sp)};
  if (sp != std::string_view::npos)
    r.target = std::string{first.substr(sp + 1)};
  while (!input.empty()) {
    auto line = take_line();
    if (line.empty())
      break;
    auto colon = line.find(':');
    auto name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    }
    r.headers.emplace_back(std::string{name}, std::string{value});
  }
  r.body = std::string{input};
  return r;
}

std::string format_fuzz_request(const admin_request& req) {
  if (req.raw)
    return "RAW\n" + req.raw_bytes;
  std::string out = req.method + " " + req.target + "\n";
  for (auto& [k, v] : req.headers)
    out += k + ": " + v + "\n";
  return out + "\n" + req.body;
}

namespace {

// What render_http puts on the request line and in the headers; the direct
// path builds its request from the same cleaned pieces.
std::string clean_method(const std::string& m) {
  std::string method;
  for (char c : m)
    if (is_tchar(c))
      method += c;
  return method.empty() ? "GET" : method;
}

std::string clean_target(const std::string& t) {
  static const char* hex = "0123456789ABCDEF";
  std::string target;
  for (unsigned char c : t) {
    if (target_char(c)) {
      target += static_cast<char>(c);
    } else {
      target += '%';
      target += hex[c >> 4];
      target += hex[c & 0xf];
    }
  }
  if (target.empty() || target[0] != '/')
    target.insert(0, "/");
  return target;
}

// Headers as sent (Content-Length, Transfer-Encoding and Connection are
// ours; "Host: 127.0.0.1" when the request names none).
std::vector<std::pair<std::string, std::string>> clean_headers(
  const admin_request& req) {
  std::vector<std::pair<std::string, std::string>> out;
  bool host = false;
  for (auto& [k, v] : req.headers) {
    std::string name;
    for (char c : k)
      if (is_tchar(c))
        name += c;
    auto l = lower(name);
    if (name.empty() || l == "content-length" || l == "transfer-encoding"
        || l == "connection")
      continue;
    host = host || l == "host";
    std::string value;
    for (char c : v)
      if (c != '\r' && c != '\n' && c != '\0')
        value += c;
    out.emplace_back(std::move(name), std::move(value));
  }
  if (!host)
    out.emplace_back("Host", "127.0.0.1");
  return out;
}

// A header value as the HTTP library hands it over: without the blanks
// around it.
std::string trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string{s};
}

admin_reply to_reply(const node::http::response& res) {
  admin_reply out;
  out.status = res.status;
  out.replies = 1;
  if (!res.content_type.empty())
    out.headers.emplace_back("content-type", res.content_type);
  for (auto& [k, v] : res.headers)
    out.headers.emplace_back(lower(k), v);
  out.body = res.body;
  return out;
}

} // namespace

std::string sent_method(const admin_request& req) {
  return clean_method(req.method);
}

std::string render_http(const admin_request& req) {
  std::string out = clean_method(req.method) + " " + clean_target(req.target)
                    + " HTTP/1.1\r\n";
  for (auto& [name, value] : clean_headers(req))
    out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(req.body.size())
         + "\r\nConnection: close\r\n\r\n" + req.body;
  return out;
}

admin_reply serve_direct(const admin_request& req) {
  if (req.raw)
    return serve(req);
  auto& st = direct(to_token_server(req));
  st.backend.reset();
  // The request the server assembles from render_http(req)
  // (node/admin_http.cc, on_headers and on_header).
  node::http::request r;
  r.method = clean_method(req.method);
  r.version = "HTTP/1.1";
  r.target = clean_target(req.target);
  int host = 0, origin = 0, auth = 0, type = 0;
  for (auto& [name, raw_value] : clean_headers(req)) {
    auto key = lower(name);
    auto v = trim_blanks(raw_value);
    if (key == "host") {
      ++host;
      r.has_host = true;
      r.host = v;
    } else if (key == "origin") {
      ++origin;
      r.origin = v;
    } else if (key == "authorization") {
      ++auth;
      r.authorization = v;
    } else if (key == "content-type") {
      ++type;
      r.content_type = v;
    } else if (key == "accept") {
      r.accept = v;
    } else if (key == "last-event-id") {
      r.last_event_id = v;
    } else if (key == "expect") {
      r.expect_continue = lower(v) == "100-continue";
    }
  }
  r.content_length = req.body.size();
  if (host > 1)
    r.duplicate_header = "Host";
  else if (origin > 1)
    r.duplicate_header = "Origin";
  else if (auth > 1)
    r.duplicate_header = "Authorization";
  else if (type > 1)
    r.duplicate_header = "Content-Type";
  // Then what the server does with it: admission before the body, the
  // body limit, and the worker's dispatch (long-polls answer at once: the
  // fuzz configuration waits for nothing; no event log, so the event
  // stream is the server's 503). The body-memory budget (32 MiB) is out of
  // reach of one fuzz input.
  node::http::route route;
  node::http::response res;
  if (auto refusal = st.api.admit(r, route)) {
    res = std::move(*refusal);
  } else if (req.body.size() > st.api.body_limit(route)) {
    res = st.api.too_large(route, req.body.size());
  } else if (route.ep == node::http::endpoint::events) {
    res = node::http::error(503, "this node keeps no event log");
  } else {
    r.body = req.body;
    node::http::watch_state w;
    std::optional<node::http::response> err;
    if (st.api.watch_request(r, route, w, err)) {
      if (err) {
        res = std::move(*err);
      } else {
        node::watch_batch b;
        auto got = st.backend.kv_watch(w.cursor, duration::zero(), b);
        if (!got.ok()) {
          res = node::http::error(503, got.detail.empty() ? "node unavailable"
                                                          : got.detail);
        } else {
          w.apply(b);
          res = w.answer();
        }
      }
    } else {
      res = st.api.handle(r, route);
    }
  }
  st.api.count(res.status);
  return to_reply(res);
}

bool to_token_server(const admin_request& req) {
  if (req.raw)
    return lower(req.raw_bytes).find("authorization:") != std::string::npos;
  for (auto& [k, v] : req.headers) {
    std::string name;  // as render_http sends it
    for (char c : k)
      if (is_tchar(c))
        name += c;
    if (lower(name) == "authorization")
      return true;
  }
  return false;
}

admin_reply serve(const admin_request& req) {
  auto& st = state(to_token_server(req));
  st.backend.reset();
  std::string bytes = req.raw ? req.raw_bytes : render_http(req);
  const bool head_first = first_is_head(req);

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket");
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(st.server->port());
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  // A loaded machine may refuse a connection for a moment (full accept
  // queue); a server that stays unreachable is a finding.
  int rc = -1;
  for (int attempt = 0; attempt < 200; ++attempt) {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc == 0 || (errno != ECONNREFUSED && errno != EAGAIN
                    && errno != ETIMEDOUT && errno != EINTR))
      break;
    ::close(fd);
    ::usleep(10000);
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket");
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  if (rc != 0)
    std::fprintf(stderr, "connect: %s\n", std::strerror(errno));
  FUZZ_CHECK(rc == 0, "admin server unreachable for 2 s");
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the server answered early (e.g. 413) and closed
    sent += static_cast<size_t>(n);
  }
  if (req.raw)
    ::shutdown(fd, SHUT_WR); // the server sees the end of the request
  std::string in;
  char buf[16384];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      FUZZ_CHECK(in.size() <= (64u << 20), "reply above 64 MiB");
      // One request, one reply: do not wait for the server to close (on
      // some error paths it keeps the connection for its keep-alive time
      // despite "Connection: close").
      admin_reply probe;
      if (!req.raw && parse_replies(in, head_first, probe) > 0)
        break;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    FUZZ_CHECK(!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)),
               "admin server did not finish its reply within 10 s");
    break; // EOF, or reset after an early reply
  }
  ::close(fd);
  admin_reply reply;
  reply.replies = parse_replies(in, head_first, reply);
  reply.head = head_first;
  return reply;
}

std::string header(const admin_reply& reply, std::string_view name) {
  for (auto& [k, v] : reply.headers)
    if (k == name)
      return v;
  return {};
}

} // namespace pekonode::fuzz
