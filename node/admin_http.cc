// The admin server's plumbing on libmicrohttpd (MHD): sockets, deadlines,
// threads. Request logic is in admin_http_api.cc.
//
// Threads and who owns what:
//
//   event loop (1)  every socket: MHD in "external epoll" mode, run by our
//                   own loop, so MHD's callbacks and our deadline checks
//                   ("reaper") run on one thread and share connection state
//                   without locks. Never calls the backend.
//   workers (N)     backend calls; a request whose body is complete is
//                   suspended in MHD and queued here, and resumed with its
//                   response.
//   watch hub (1)   every parked long-poll: one kv_watch call serves them
//                   all, so a watch costs a parked connection, not a thread.
//
// A connection's deadline depends on its phase:
//
//   awaiting_request --headers complete--> reading_body --body complete-->
//   processing (suspended, no deadline) --response queued--> writing
//   --response sent--> awaiting_request
//
// The reaper closes a connection whose deadline passed by shutting its
// socket down (MHD then sees the end of the stream and frees it). MHD closes
// a socket only after telling us (NOTIFY_CLOSED), on this same thread, so
// the reaper never touches a descriptor MHD already closed.

#include "node/admin_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <limits>
#include <set>
#include <thread>

#include "common/text.h"
#include "node/admin_http_api.h"
#include "node/version.h"

namespace pekonode::node {

using http::steady;

namespace {

enum class phase { awaiting_request, reading_body, processing, writing };

const char* phase_name(phase p) {
  switch (p) {
    case phase::awaiting_request:
      return "headers";
    case phase::reading_body:
      return "body";
    case phase::processing:
      return "processing";
    case phase::writing:
      return "write";
  }
  return "?";
}

/// Per TCP connection; lives from MHD's NOTIFY_STARTED to NOTIFY_CLOSED and
/// is touched by the event-loop thread only.
struct connection_state {
  int fd = -1;
  std::string peer;
  phase ph = phase::awaiting_request;
  steady::time_point deadline;
  bool reaped = false;
};

std::string peer_text(const sockaddr* sa) {
  if (sa == nullptr)
    return "?";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string{buf} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string{buf} + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

std::string seconds_text(duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

bool iequals(const char* a, const char* b) {
  return ::strcasecmp(a, b) == 0;
}

// Messages MHD logs while starting, to explain a failed start.
thread_local std::string* start_log = nullptr;

void mhd_log(void* cls, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  std::string line{buf};
  while (!line.empty() && (line.back() == '\n' || line.back() == ' '))
    line.pop_back();
  if (start_log != nullptr) {
    *start_log = line;
    return;
  }
  auto* name = static_cast<const std::string*>(cls);
  LOG_EVERY_N(WARNING, 50) << *name << ": admin: " << escape(line);
}

} // namespace

/// One GET /v1/events stream. The hub thread formats events into `buf`;
/// MHD's content reader (the event-loop thread) takes them out. When the
/// buffer is empty the reader suspends the connection and the hub resumes
/// it when it has more. Shared by the hub's list and the MHD response.
struct event_stream {
  std::mutex mtx;
  MHD_Connection* conn = nullptr;
  bool sse = false;
  event_filter filter;
  uint64_t cursor = 0;       ///< newest log index examined
  bool first = true;         ///< the opening line is not written yet
  std::string buf;           ///< formatted, not yet handed to MHD
  size_t off = 0;            ///< bytes of buf already handed out
  bool suspended = false;    ///< suspended by the reader (buffer empty)
  bool done = false;         ///< no more events: end after the buffer
  bool cut = false;          ///< ended because the reader fell behind
  /// MHD destroyed the response. Atomic, not under `mtx`: MHD may free a
  /// response while holding its own locks. A suspended connection is never
  /// closed by MHD, so resuming one (only ever done when `suspended`) is
  /// safe without it.
  std::atomic<bool> closed{false};
  steady::time_point next_heartbeat;

  size_t pending() const {
    return buf.size() - off;
  }
};

/// One HTTP request; created when MHD has its request line, deleted when
/// MHD reports it complete. While suspended it belongs to a worker or the
/// watch hub (MHD does not touch a suspended connection).
struct request_state {
  admin_server::impl* srv = nullptr;
  MHD_Connection* conn = nullptr;
  http::request req;
  http::route route;
  bool headers_done = false;
  bool suspended = false;
  size_t reserved = 0;       ///< bytes of the shared body budget held
  uint64_t discarded = 0;    ///< body bytes read and dropped after a refusal
  std::optional<http::response> early;     ///< refusal decided before the end
  std::unique_ptr<http::response> ready;   ///< set before resuming
  http::watch_state watch;
  std::shared_ptr<event_stream> stream;    ///< GET /v1/events

  ~request_state();
};

struct admin_server::impl {
  impl(admin_server& parent)
    : self(parent),
      api(parent.backend_, parent.cfg_, parent.stats_, stopping) {
    auto& s = self.stats_;
    s.describe("pekonode_admin_connections", metric_kind::gauge,
               "Admin HTTP connections open.");
    s.describe("pekonode_admin_watchers", metric_kind::gauge,
               "Long-poll watches parked.");
    s.describe("pekonode_admin_connections_timed_out_total",
               metric_kind::counter,
               "Admin HTTP connections closed for missing a deadline, by "
               "phase (headers, body, write).");
    s.describe("pekonode_admin_body_bytes", metric_kind::gauge,
               "Request body bytes reserved by admin HTTP requests in "
               "progress.");
    s.set("pekonode_admin_connections", {}, 0);
    s.set("pekonode_admin_watchers", {}, 0);
    s.set("pekonode_admin_body_bytes", {}, 0);
    s.describe("pekonode_admin_event_streams", metric_kind::gauge,
               "GET /v1/events streams open.");
    s.describe("pekonode_admin_event_streams_refused_total",
               metric_kind::counter,
               "Event streams refused at the concurrent-stream limit.");
    s.describe("pekonode_admin_event_streams_cut_total", metric_kind::counter,
               "Event streams ended because the reader fell further behind "
               "than the event log's ring.");
    s.set("pekonode_admin_event_streams", {}, 0);
    s.set("pekonode_admin_event_streams_refused_total", {}, 0);
    s.set("pekonode_admin_event_streams_cut_total", {}, 0);
  }

  admin_server& self;
  std::atomic<bool> stopping{false};
  http::api api;
  MHD_Daemon* daemon = nullptr;
  std::atomic<uint16_t> port{0};
  bool tls = false;

  // -- event loop (loop thread only, except where noted) ----------------------
  std::thread loop_thread;
  int wake_fd = -1;
  std::atomic<bool> loop_exit{false};
  steady::time_point exit_deadline;
  std::set<connection_state*> conns;
  size_t suspended = 0;
  steady::time_point next_reap = steady::time_point::max();
  bool run_again = false;

  // -- body memory, all connections (any thread) ------------------------------
  std::atomic<size_t> body_bytes{0};
  /// Snapshot bodies (PUT /v1/snapshot) have their own budget of
  /// max_snapshot_bytes, so a restore neither starves nor is starved by
  /// ordinary requests.
  std::atomic<size_t> snapshot_bytes{0};

  // -- workers ----------------------------------------------------------------
  std::mutex work_mtx;
  std::condition_variable work_cv;
  std::deque<request_state*> work;
  bool work_closed = false;
  std::vector<std::thread> workers;

  // -- watch hub --------------------------------------------------------------
  mutable std::mutex hub_mtx;
  mutable std::condition_variable hub_cv;
  std::vector<request_state*> parked;
  bool hub_stop = false;
  std::thread hub_thread;

  // -- event streams ----------------------------------------------------------
  mutable std::mutex streams_mtx;
  mutable std::condition_variable streams_cv;
  std::vector<std::shared_ptr<event_stream>> streams;
  bool streams_stop = false;
  std::atomic<bool> streams_dirty{false};
  std::thread streams_thread;

  const admin_config& cfg() const {
    return self.cfg_;
  }

  uint64_t discard_cap() const {
    return std::max<uint64_t>(8 * uint64_t{cfg().max_value_bytes}, 1 << 20);
  }

  // -- MHD callbacks (event-loop thread) --------------------------------------

  static void on_connection(void* cls, MHD_Connection* c, void** socket_ctx,
                            MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<impl*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* cs = new connection_state;
      if (auto* i = MHD_get_connection_info(c,
                                            MHD_CONNECTION_INFO_CONNECTION_FD))
        cs->fd = i->connect_fd;
      if (auto* i = MHD_get_connection_info(c,
                                            MHD_CONNECTION_INFO_CLIENT_ADDRESS))
        cs->peer = peer_text(i->client_addr);
      self->set_phase(cs, phase::awaiting_request);
      self->conns.insert(cs);
      *socket_ctx = cs;
    } else {
      auto* cs = static_cast<connection_state*>(*socket_ctx);
      self->conns.erase(cs);
      delete cs;
      *socket_ctx = nullptr;
      // At the connection cap MHD stops accepting; it resumes when it cleans
      // this one up, on a later run: make that run come at once, not after
      // the next event.
      self->run_again = true;
    }
    self->self.stats_.set("pekonode_admin_connections", {},
                          static_cast<double>(self->conns.size()));
  }

  static void* on_uri(void* cls, const char* uri, MHD_Connection* c) {
    auto* rs = new request_state;
    rs->srv = static_cast<impl*>(cls);
    rs->conn = c;
    rs->req.target = uri;
    return rs;
  }

  static void on_completed(void* cls, MHD_Connection* c, void** con_cls,
                           MHD_RequestTerminationCode) {
    auto* self = static_cast<impl*>(cls);
    delete static_cast<request_state*>(*con_cls);
    *con_cls = nullptr;
    if (auto* cs = self->conn_of(c))
      self->set_phase(cs, phase::awaiting_request);
  }

  static MHD_Result on_access(void* cls, MHD_Connection* c, const char* url,
                              const char* method, const char* version,
                              const char* data, size_t* size,
                              void** con_cls) {
    auto* self = static_cast<impl*>(cls);
    auto* rs = static_cast<request_state*>(*con_cls);
    if (rs == nullptr) {
      rs = static_cast<request_state*>(on_uri(cls, url, c));
      *con_cls = rs;
    }
    if (!rs->headers_done)
      return self->on_headers(rs, method, version);
    if (*size != 0) {
      auto r = self->on_body(rs, data, *size);
      *size = 0;
      return r;
    }
    return self->on_complete(rs);
  }

  connection_state* conn_of(MHD_Connection* c) {
    auto* i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i != nullptr ? static_cast<connection_state*>(i->socket_context)
                        : nullptr;
  }

  void set_phase(connection_state* cs, phase p) {
    cs->ph = p;
    auto now = steady::now();
    switch (p) {
      case phase::awaiting_request:
        cs->deadline = now + cfg().header_timeout;
        break;
      case phase::reading_body:
        cs->deadline = now + cfg().body_timeout;
        break;
      case phase::writing:
        cs->deadline = now + cfg().write_timeout;
        break;
      case phase::processing:
        cs->deadline = steady::time_point::max();
        return;
    }
    next_reap = std::min(next_reap, cs->deadline);
  }

  struct header_scan {
    http::request* req;
    int host = 0, origin = 0, auth = 0, type = 0, length = 0;
    bool bad_length = false;
  };

  static MHD_Result on_header(void* cls, MHD_ValueKind, const char* key,
                              const char* value) {
    auto* h = static_cast<header_scan*>(cls);
    auto& req = *h->req;
    std::string v = value != nullptr ? value : "";
    if (iequals(key, "Host")) {
      ++h->host;
      req.has_host = true;
      req.host = v;
    } else if (iequals(key, "Origin")) {
      ++h->origin;
      req.origin = v;
    } else if (iequals(key, "Authorization")) {
      ++h->auth;
      req.authorization = v;
    } else if (iequals(key, "Content-Type")) {
      ++h->type;
      req.content_type = v;
    } else if (iequals(key, "Accept")) {
      req.accept = v;
    } else if (iequals(key, "Last-Event-ID")) {
      req.last_event_id = v;
    } else if (iequals(key, "Content-Length")) {
      ++h->length;
      if (v.empty() || v.size() > 19
          || v.find_first_not_of("0123456789") != std::string::npos)
        h->bad_length = true;
      else
        req.content_length = std::stoull(v);
    } else if (iequals(key, "Transfer-Encoding")) {
      std::string lower = v;
      for (auto& ch : lower)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.chunked = lower.find("chunked") != std::string::npos;
    } else if (iequals(key, "Expect")) {
      req.expect_continue = ::strcasecmp(v.c_str(), "100-continue") == 0;
    }
    return MHD_YES;
  }

  MHD_Result on_headers(request_state* rs, const char* method,
                        const char* version) {
    rs->headers_done = true;
    if (auto* cs = conn_of(rs->conn))
      set_phase(cs, phase::reading_body);
    auto& req = rs->req;
    req.method = method != nullptr ? method : "";
    req.version = version != nullptr ? version : "";
    req.tls = tls;
    header_scan scan{&req};
    MHD_get_connection_values(rs->conn, MHD_HEADER_KIND, &on_header, &scan);
    if (scan.host > 1)
      req.duplicate_header = "Host";
    else if (scan.origin > 1)
      req.duplicate_header = "Origin";
    else if (scan.auth > 1)
      req.duplicate_header = "Authorization";
    else if (scan.type > 1)
      req.duplicate_header = "Content-Type";
    else if (scan.length > 1)
      req.duplicate_header = "Content-Length";
    if (scan.bad_length)
      return refuse_early(rs, http::error(400, "malformed Content-Length"));
    if (auto refusal = api.admit(req, rs->route))
      return refuse_early(rs, std::move(*refusal));
    if (req.content_length && *req.content_length > 0
        && !reserve(rs, *req.content_length))
      return refuse_early(rs, busy(rs));
    return MHD_YES;
  }

  http::response busy(const request_state* rs) const {
    if (rs->route.body == http::body_kind::snapshot) {
      auto r = http::error(
        503, "another snapshot body is being received (limit "
               + std::to_string(cfg().max_snapshot_bytes)
               + " bytes of snapshot bodies at once); retry");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    auto r = http::error(
      503, "the admin API is buffering too many request bodies (limit "
             + std::to_string(cfg().max_body_memory) + " bytes in all); "
             + "retry");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  bool reserve(request_state* rs, size_t n) {
    if (rs->route.body == http::body_kind::snapshot) {
      auto cur = snapshot_bytes.load();
      do {
        if (cur + n > cfg().max_snapshot_bytes)
          return false;
      } while (!snapshot_bytes.compare_exchange_weak(cur, cur + n));
      rs->reserved += n;
      return true;
    }
    auto cur = body_bytes.load();
    do {
      if (cur + n > cfg().max_body_memory)
        return false;
    } while (!body_bytes.compare_exchange_weak(cur, cur + n));
    rs->reserved += n;
    self.stats_.set("pekonode_admin_body_bytes", {},
                    static_cast<double>(cur + n));
    return true;
  }

  void release(size_t n, http::body_kind kind) {
    if (kind == http::body_kind::snapshot) {
      snapshot_bytes.fetch_sub(n);
      return;
    }
    auto left = body_bytes.fetch_sub(n) - n;
    self.stats_.set("pekonode_admin_body_bytes", {},
                    static_cast<double>(left));
  }

  // A refusal before the body was read: answered at once when there is no
  // body to skip or the client waits for "100 Continue"; otherwise the body
  // is read and dropped first (up to discard_cap()), so that a client
  // which sends it regardless still reads the answer instead of a reset.
  MHD_Result refuse_early(request_state* rs, http::response res) {
    auto& req = rs->req;
    bool body = (req.content_length && *req.content_length > 0) || req.chunked;
    if (!body || req.expect_continue
        || (req.content_length && *req.content_length > discard_cap()))
      return queue(rs, res);
    rs->early = std::move(res);
    return MHD_YES;
  }

  MHD_Result on_body(request_state* rs, const char* data, size_t n) {
    if (rs->early) {
      rs->discarded += n;
      return rs->discarded > discard_cap() ? MHD_NO : MHD_YES;
    }
    auto& body = rs->req.body;
    auto limit = api.body_limit(rs->route);
    if (body.size() + n > limit) {
      rs->early = api.too_large(rs->route, rs->req.content_length.value_or(0));
      rs->discarded = body.size() + n;
      std::string{}.swap(body);
      return MHD_YES;
    }
    if (body.size() + n > rs->reserved
        && !reserve(rs, body.size() + n - rs->reserved)) {
      rs->early = busy(rs);
      std::string{}.swap(body);
      return MHD_YES;
    }
    body.append(data, n);
    return MHD_YES;
  }

  MHD_Result on_complete(request_state* rs) {
    if (rs->early) {
      auto res = std::move(*rs->early);
      rs->early.reset();
      return queue(rs, res);
    }
    if (rs->ready) {
      rs->suspended = false;
      --suspended;
      auto res = std::move(rs->ready);
      if (rs->stream)
        return queue_stream(rs, *res);
      return queue(rs, *res);
    }
    std::unique_lock<std::mutex> guard{work_mtx};
    if (work_closed) {
      guard.unlock();
      return queue(rs, http::error(503, "node stopping"));
    }
    MHD_suspend_connection(rs->conn);
    rs->suspended = true;
    ++suspended;
    if (auto* cs = conn_of(rs->conn))
      set_phase(cs, phase::processing);
    work.push_back(rs);
    work_cv.notify_one();
    return MHD_YES;
  }

  MHD_Result queue(request_state* rs, const http::response& res) {
    auto* r = MHD_create_response_from_buffer(
      res.body.size(), const_cast<char*>(res.body.data()),
      MHD_RESPMEM_MUST_COPY);
    if (r == nullptr)
      return MHD_NO;
    if (!res.content_type.empty())
      MHD_add_response_header(r, "Content-Type", res.content_type.c_str());
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Server", "pekonode/" PEKONODE_VERSION);
    for (auto& [k, v] : res.headers)
      MHD_add_response_header(r, k.c_str(), v.c_str());
    auto ok = MHD_queue_response(rs->conn, static_cast<unsigned>(res.status),
                                 r);
    MHD_destroy_response(r);
    api.count(res.status);
    if (auto* cs = conn_of(rs->conn))
      set_phase(cs, phase::writing);
    return ok;
  }

  // -- deadlines (event-loop thread) -----------------------------------------

  void reap(steady::time_point now) {
    if (now < next_reap)
      return;
    next_reap = steady::time_point::max();
    for (auto* cs : conns) {
      if (cs->reaped || cs->ph == phase::processing)
        continue;
      if (now < cs->deadline) {
        next_reap = std::min(next_reap, cs->deadline);
        continue;
      }
      close_late(cs);
    }
  }

  void close_late(connection_state* cs) {
    cs->reaped = true;
    self.stats_.add("pekonode_admin_connections_timed_out_total",
                    {{"phase", phase_name(cs->ph)}}, 1);
    std::string why;
    switch (cs->ph) {
      case phase::awaiting_request:
        why = "request headers not complete within "
              + seconds_text(cfg().header_timeout);
        break;
      case phase::reading_body:
        why = "request body not complete within "
              + seconds_text(cfg().body_timeout);
        break;
      default:
        why = "response not read within " + seconds_text(cfg().write_timeout);
    }
    LOG_EVERY_N(WARNING, 20) << cfg().node_name << ": admin: closing "
                             << cs->peer << ": " << why;
    // Nothing of a response has been sent in these phases, so a plain-text
    // connection can still be told why (best effort, never blocking).
    if (!tls && cs->ph != phase::writing) {
      std::string body = "{\"error\":\"" + why + "\"}\n";
      std::string msg = "HTTP/1.1 408 Request Timeout\r\n"
                        "Content-Type: application/json\r\n"
                        "Connection: close\r\n"
                        "Content-Length: "
                        + std::to_string(body.size()) + "\r\n\r\n" + body;
      (void) ::send(cs->fd, msg.data(), msg.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::shutdown(cs->fd, SHUT_RDWR);
  }

  void run_loop() {
    auto* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int epoll_fd = info != nullptr ? info->epoll_fd : -1;
    for (;;) {
      auto now = steady::now();
      reap(now);
      if (loop_exit) {
        bool writing = std::any_of(conns.begin(), conns.end(), [](auto* cs) {
          return cs->ph == phase::writing && !cs->reaped;
        });
        if ((suspended == 0 && !writing) || now >= exit_deadline)
          break;
      }
      int64_t wait_ms = 1000;
      MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
      if (MHD_get_timeout(daemon, &mhd_ms) == MHD_YES)
        wait_ms = std::min<int64_t>(wait_ms, static_cast<int64_t>(mhd_ms));
      if (next_reap != steady::time_point::max()) {
        auto until = std::chrono::ceil<std::chrono::milliseconds>(next_reap
                                                                  - now);
        wait_ms = std::min<int64_t>(wait_ms, std::max<int64_t>(0, until.count()));
      }
      if (loop_exit)
        wait_ms = std::min<int64_t>(wait_ms, 10);
      if (run_again) {
        run_again = false;
        wait_ms = 0;
      }
      pollfd fds[2] = {{epoll_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      if (::poll(fds, 2, static_cast<int>(wait_ms)) > 0
          && (fds[1].revents & POLLIN) != 0) {
        uint64_t n = 0;
        (void) ::read(wake_fd, &n, sizeof(n));
      }
      MHD_run(daemon);
    }
  }

  // -- workers ------------------------------------------------------------------

  // Hands a response to a suspended request (any thread but the loop's).
  void finish(request_state* rs, http::response res) {
    rs->ready = std::make_unique<http::response>(std::move(res));
    MHD_resume_connection(rs->conn);
    // MHD's own wake-up does not reach an external epoll loop: ours does.
    wake();
  }

  void wake() {
    uint64_t one = 1;
    (void) ::write(wake_fd, &one, sizeof(one));
  }

  void run_worker() {
    for (;;) {
      request_state* rs = nullptr;
      {
        std::unique_lock<std::mutex> guard{work_mtx};
        work_cv.wait(guard, [&] { return work_closed || !work.empty(); });
        if (work.empty())
          return;
        rs = work.front();
        work.pop_front();
      }
      if (stopping) {
        finish(rs, http::error(503, "node stopping"));
        continue;
      }
      if (rs->route.ep == http::endpoint::events) {
        start_stream(rs);
        continue;
      }
      std::optional<http::response> err;
      if (api.watch_request(rs->req, rs->route, rs->watch, err)) {
        if (err)
          finish(rs, std::move(*err));
        else
          start_watch(rs);
        continue;
      }
      finish(rs, api.handle(rs->req, rs->route));
    }
  }

  // -- watch hub ----------------------------------------------------------------

  // On a worker: answers at once when changes are already there, else parks.
  void start_watch(request_state* rs) {
    watch_batch b;
    auto r = self.backend_.kv_watch(rs->watch.cursor, duration::zero(), b);
    if (!r.ok())
      return finish(rs, http::error(503, r.detail.empty() ? "node unavailable"
                                                          : r.detail));
    if (rs->watch.apply(b) || steady::now() >= rs->watch.deadline)
      return finish(rs, rs->watch.answer());
    std::unique_lock<std::mutex> guard{hub_mtx};
    if (hub_stop)
      return finish(rs, rs->watch.answer());
    if (parked.size() >= cfg().max_watchers) {
      guard.unlock();
      auto res = http::error(503, "too many concurrent watches (limit "
                                    + std::to_string(cfg().max_watchers)
                                    + ")");
      res.headers.emplace_back("Retry-After", "1");
      return finish(rs, std::move(res));
    }
    parked.push_back(rs);
    self.stats_.set("pekonode_admin_watchers", {},
                    static_cast<double>(parked.size()));
    hub_cv.notify_all();
  }

  void run_hub() {
    std::unique_lock<std::mutex> guard{hub_mtx};
    for (;;) {
      hub_cv.wait(guard, [&] { return hub_stop || !parked.empty(); });
      if (hub_stop)
        break;
      uint64_t from = std::numeric_limits<uint64_t>::max();
      auto earliest = steady::time_point::max();
      for (auto* rs : parked) {
        from = std::min(from, rs->watch.cursor);
        earliest = std::min(earliest, rs->watch.deadline);
      }
      guard.unlock();
      // Short slices: a new watch's deadline is met within one, and stop()
      // is noticed within one.
      auto slice = std::clamp<duration>(earliest - steady::now(),
                                        duration::zero(),
                                        std::chrono::milliseconds{100});
      watch_batch b;
      auto r = self.backend_.kv_watch(from, slice, b);
      guard.lock();
      auto now = steady::now();
      auto keep = parked.begin();
      for (auto* rs : parked) {
        if (!r.ok())
          finish(rs, http::error(503, r.detail.empty() ? "node unavailable"
                                                       : r.detail));
        else if (rs->watch.apply(b) || now >= rs->watch.deadline)
          finish(rs, rs->watch.answer());
        else
          *keep++ = rs;
      }
      parked.erase(keep, parked.end());
      self.stats_.set("pekonode_admin_watchers", {},
                      static_cast<double>(parked.size()));
      hub_cv.notify_all();
    }
    for (auto* rs : parked)
      finish(rs, rs->watch.answer());
    parked.clear();
    self.stats_.set("pekonode_admin_watchers", {}, 0);
    hub_cv.notify_all();
  }

  // -- event streams ------------------------------------------------------------
  //
  // A stream's bytes go log -> (hub) stream buffer -> (event loop, MHD's
  // content reader) socket. The hub never waits for a reader: it stops
  // filling a full buffer, and a reader whose unread events leave the log's
  // ring is cut off; the reaper disconnects a reader that takes nothing for
  // write_timeout. The node's actors only ever append to the log.

  struct stream_ref {
    impl* srv;
    std::shared_ptr<event_stream> s;
  };

  // On a worker: checks the request and the limit, registers the stream and
  // answers with the headers (the body follows from the hub).
  void start_stream(request_state* rs) {
    if (cfg().events == nullptr)
      return finish(rs, http::error(503, "this node keeps no event log"));
    http::event_stream_params p;
    std::optional<http::response> err;
    if (!http::parse_event_stream(rs->req, cfg().max_key_bytes, p, err))
      return finish(rs, std::move(*err));
    auto s = std::make_shared<event_stream>();
    s->conn = rs->conn;
    s->sse = p.sse;
    s->filter = std::move(p.filter);
    s->cursor = p.after ? *p.after : cfg().events->last_index();
    {
      std::lock_guard<std::mutex> guard{streams_mtx};
      if (streams_stop)
        return finish(rs, http::error(503, "node stopping"));
      if (streams.size() >= cfg().max_event_streams) {
        self.stats_.add("pekonode_admin_event_streams_refused_total", {}, 1);
        auto res = http::error(
          503, "too many concurrent event streams (limit "
                 + std::to_string(cfg().max_event_streams) + ")");
        res.headers.emplace_back("Retry-After", "1");
        return finish(rs, std::move(res));
      }
      streams.push_back(s);
      self.stats_.set("pekonode_admin_event_streams", {},
                      static_cast<double>(streams.size()));
    }
    rs->stream = s;
    http::response head;
    head.content_type = p.sse ? "text/event-stream"
                              : "application/x-ndjson";
    finish(rs, std::move(head));
    streams_dirty = true;
    streams_cv.notify_all();
  }

  // Event loop: MHD_queue_response with a body read from the stream.
  MHD_Result queue_stream(request_state* rs, const http::response& head) {
    auto* ref = new stream_ref{this, rs->stream};
    auto* r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                &impl::stream_read, ref,
                                                &impl::stream_free);
    if (r == nullptr) {
      stream_free(ref);
      return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", head.content_type.c_str());
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Server", "pekonode/" PEKONODE_VERSION);
    auto ok = MHD_queue_response(rs->conn, 200, r);
    MHD_destroy_response(r);
    api.count(200);
    if (auto* cs = conn_of(rs->conn))
      set_phase(cs, phase::writing);
    return ok;
  }

  // Event loop: MHD wants up to `max` more bytes of the body.
  static ssize_t stream_read(void* cls, uint64_t, char* out, size_t max) {
    auto* ref = static_cast<stream_ref*>(cls);
    auto& s = *ref->s;
    auto* srv = ref->srv;
    std::unique_lock<std::mutex> guard{s.mtx};
    if (s.pending() > 0) {
      size_t n = std::min(max, s.pending());
      std::memcpy(out, s.buf.data() + s.off, n);
      s.off += n;
      bool drained = s.pending() == 0;
      if (drained) {
        s.buf.clear();
        s.off = 0;
        if (s.buf.capacity() > 2 * srv->cfg().event_stream_buffer)
          std::string{}.swap(s.buf);
      } else if (s.off > s.buf.size() / 2) {
        s.buf.erase(0, s.off);
        s.off = 0;
      }
      guard.unlock();
      // MHD took bytes: the client is reading; its write deadline restarts.
      if (auto* cs = srv->conn_of(s.conn))
        srv->set_phase(cs, phase::writing);
      if (drained) {
        srv->streams_dirty = true;
        srv->streams_cv.notify_all();
      }
      return static_cast<ssize_t>(n);
    }
    if (s.done)
      return s.cut ? MHD_CONTENT_READER_END_WITH_ERROR
                   : MHD_CONTENT_READER_END_OF_STREAM;
    // Nothing to send: park the connection until the hub has more. Waiting
    // for events is not the client's fault, so no deadline runs meanwhile.
    s.suspended = true;
    MHD_suspend_connection(s.conn);
    if (auto* cs = srv->conn_of(s.conn))
      srv->set_phase(cs, phase::processing);
    return 0;
  }

  static void stream_free(void* cls) {
    auto* ref = static_cast<stream_ref*>(cls);
    ref->s->closed = true;
    ref->srv->streams_dirty = true;
    ref->srv->streams_cv.notify_all();
    delete ref;
  }

  // Hub: moves what the stream may take from the log into its buffer.
  // Returns true when the stream's connection was resumed.
  bool fill(event_stream& s, steady::time_point now) {
    std::lock_guard<std::mutex> guard{s.mtx};
    if (s.done || s.closed)
      return false;
    auto& log = *cfg().events;
    auto limit = cfg().event_stream_buffer;
    size_t before = s.pending();
    bool wrote = false;
    auto write = [&](std::string text) {
      s.buf += text;
      wrote = true;
    };
    do {
      auto b = log.read(s.cursor, s.filter, s.pending() < limit ? 64 : 1);
      if (b.reset && !s.first) {
        // The ring dropped events this reader had not been sent.
        write(http::format_stream_control(
          {{"type", "cutoff"},
           {"index", s.cursor},
           {"error", "reader too slow: events after index "
                       + std::to_string(s.cursor)
                       + " left the node's event log (it keeps "
                       + std::to_string(log.capacity())
                       + ") before they were sent; resume with ?index="
                       + std::to_string(s.cursor)}},
          s.sse));
        s.done = true;
        s.cut = true;
        self.stats_.add("pekonode_admin_event_streams_cut_total", {}, 1);
        break;
      }
      if (s.first) {
        s.first = false;
        if (b.reset)
          write(http::format_stream_control(
            {{"type", "reset"},
             {"index", s.cursor},
             {"oldest", b.oldest_index},
             {"last", log.last_index()},
             {"reason",
              s.cursor > log.last_index()
                ? "index is ahead of this node's event log (the node "
                  "restarted?): sending every event it keeps"
                : "events after this index are no longer in the node's "
                  "event log: sending from the oldest it keeps"}},
            s.sse));
        else
          write(http::format_stream_control(
            {{"type", "heartbeat"}, {"index", s.cursor}}, s.sse));
      }
      if (s.pending() >= limit)
        break;
      for (auto& ev : b.events)
        write(http::format_stream_event(ev, s.sse));
      s.cursor = std::max(s.cursor, b.last_index);
      if (b.reset)
        s.cursor = b.last_index;
    } while (s.pending() < limit && s.cursor < log.last_index());
    if (!wrote && before == 0 && now >= s.next_heartbeat)
      write(http::format_stream_control(
        {{"type", "heartbeat"}, {"index", s.cursor}}, s.sse));
    if (wrote)
      s.next_heartbeat = now + cfg().event_heartbeat;
    if (s.suspended && (s.pending() > 0 || s.done)) {
      s.suspended = false;
      MHD_resume_connection(s.conn);
      return true;
    }
    return false;
  }

  void run_streams() {
    std::unique_lock<std::mutex> guard{streams_mtx};
    while (!streams_stop) {
      if (streams.empty()) {
        streams_cv.wait(guard, [&] { return streams_stop || !streams.empty(); });
        continue;
      }
      streams_dirty = false;
      auto now = steady::now();
      bool resumed = false;
      auto keep = streams.begin();
      for (auto& s : streams) {
        resumed |= fill(*s, now);
        std::lock_guard<std::mutex> g{s->mtx};
        if (!s->closed)
          *keep++ = s;
      }
      streams.erase(keep, streams.end());
      self.stats_.set("pekonode_admin_event_streams", {},
                      static_cast<double>(streams.size()));
      streams_cv.notify_all();
      if (resumed)
        wake();
      if (streams_dirty)
        continue;
      // Wait for a new event, a drained buffer, or a heartbeat: short
      // slices, so that a drained buffer or stop() is noticed quickly.
      auto seen = cfg().events->last_index();
      guard.unlock();
      cfg().events->wait(seen, std::chrono::milliseconds{50});
      guard.lock();
    }
    // Stopping: every stream ends after the events already in the log.
    bool resumed = false;
    auto now = steady::now();
    for (auto& s : streams) {
      resumed |= fill(*s, now);
      std::lock_guard<std::mutex> g{s->mtx};
      s->done = true;
      if (s->suspended && !s->closed) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
        resumed = true;
      }
    }
    streams.clear();
    self.stats_.set("pekonode_admin_event_streams", {}, 0);
    streams_cv.notify_all();
    if (resumed)
      wake();
  }
};

request_state::~request_state() {
  if (reserved != 0)
    srv->release(reserved, route.body);
}

// -- admin_server -------------------------------------------------------------

admin_server::admin_server(admin_backend& backend, admin_config cfg)
  : backend_(backend), cfg_(std::move(cfg)) {
  if (cfg_.threads == 0)
    cfg_.threads = 1;
  impl_ = std::make_unique<impl>(*this);
}

admin_server::~admin_server() {
  stop();
}

uint16_t admin_server::port() const noexcept {
  return impl_->port;
}

size_t admin_server::watchers() const noexcept {
  std::lock_guard<std::mutex> guard{impl_->hub_mtx};
  return impl_->parked.size();
}

size_t admin_server::event_streams() const noexcept {
  std::lock_guard<std::mutex> guard{impl_->streams_mtx};
  return impl_->streams.size();
}

bool admin_server::await_event_streams(size_t n, duration timeout) const {
  std::unique_lock<std::mutex> guard{impl_->streams_mtx};
  return impl_->streams_cv.wait_for(guard, timeout,
                                    [&] { return impl_->streams.size() >= n; });
}

bool admin_server::await_watchers(size_t n, duration timeout) const {
  std::unique_lock<std::mutex> guard{impl_->hub_mtx};
  return impl_->hub_cv.wait_for(guard, timeout,
                                [&] { return impl_->parked.size() >= n; });
}

std::string admin_server::start(const std::string& host, uint16_t port) {
  std::lock_guard<std::mutex> guard{lifecycle_mtx_};
  auto where = (host.find(':') != std::string::npos ? "[" + host + "]" : host)
               + ":" + std::to_string(port);
  if (started_)
    return "admin API already started";
  if (stopped_)
    return "admin API already stopped";
  if (cfg_.tls_cert_pem.empty() != cfg_.tls_key_pem.empty())
    return "TLS needs both a certificate and a key";
  sockaddr_storage addr{};
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    flags |= MHD_USE_IPv6;
  } else {
    return "cannot bind admin API to " + where + ": not a numeric IP address";
  }
  auto& d = *impl_;
  d.tls = !cfg_.tls_cert_pem.empty();
  if (d.tls)
    flags |= MHD_USE_TLS;
  // MHD's own inactivity timeout backs up our deadlines (whole seconds).
  auto backstop = std::chrono::ceil<std::chrono::seconds>(
    std::max({cfg_.header_timeout, cfg_.body_timeout, cfg_.write_timeout}));
  std::vector<MHD_OptionItem> opts = {
    {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&mhd_log),
     &cfg_.node_name},
    {MHD_OPTION_SOCK_ADDR, 0, &addr},
    {MHD_OPTION_CONNECTION_LIMIT,
     static_cast<intptr_t>(std::max<size_t>(cfg_.max_connections, 1)),
     nullptr},
    {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
     static_cast<intptr_t>(
       std::max<size_t>(cfg_.max_connections_per_client, 1)),
     nullptr},
    {MHD_OPTION_CONNECTION_TIMEOUT,
     static_cast<intptr_t>(std::max<int64_t>(1, backstop.count() + 1)),
     nullptr},
    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, nullptr},
    {MHD_OPTION_NOTIFY_CONNECTION,
     reinterpret_cast<intptr_t>(&impl::on_connection), &d},
    {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&impl::on_uri),
     &d},
    {MHD_OPTION_NOTIFY_COMPLETED,
     reinterpret_cast<intptr_t>(&impl::on_completed), &d},
  };
  if (d.tls) {
    opts.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0,
                    const_cast<char*>(cfg_.tls_cert_pem.c_str())});
    opts.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0,
                    const_cast<char*>(cfg_.tls_key_pem.c_str())});
  }
  opts.push_back({MHD_OPTION_END, 0, nullptr});
  std::string log;
  start_log = &log;
  errno = 0;
  d.daemon = MHD_start_daemon(flags, port, nullptr, nullptr, &impl::on_access,
                              &d, MHD_OPTION_ARRAY, opts.data(),
                              MHD_OPTION_END);
  int err = errno;
  start_log = nullptr;
  if (d.daemon == nullptr) {
    std::string why = err != 0 ? std::strerror(err) : "";
    if (!log.empty())
      why = why.empty() ? log : why + " (" + log + ")";
    if (why.empty())
      why = "the HTTP server did not start";
    return "cannot bind admin API to " + where + ": " + why;
  }
  auto* bound = MHD_get_daemon_info(d.daemon, MHD_DAEMON_INFO_BIND_PORT);
  d.port = bound != nullptr ? bound->port : port;
  d.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  started_ = true;
  d.loop_thread = std::thread([&d] { d.run_loop(); });
  for (size_t i = 0; i < cfg_.threads; ++i)
    d.workers.emplace_back([&d] { d.run_worker(); });
  d.hub_thread = std::thread([&d] { d.run_hub(); });
  d.streams_thread = std::thread([&d] { d.run_streams(); });
  return {};
}

void admin_server::stop() {
  std::lock_guard<std::mutex> guard{lifecycle_mtx_};
  auto& d = *impl_;
  d.stopping = true;
  if (!started_ || stopped_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  // Event streams end after what they hold.
  {
    std::lock_guard<std::mutex> g{d.streams_mtx};
    d.streams_stop = true;
  }
  d.streams_cv.notify_all();
  d.streams_thread.join();
  // Parked long-polls answer with what they have.
  {
    std::lock_guard<std::mutex> g{d.hub_mtx};
    d.hub_stop = true;
  }
  d.hub_cv.notify_all();
  d.hub_thread.join();
  // Queued requests answer 503; running backend calls finish.
  {
    std::lock_guard<std::mutex> g{d.work_mtx};
    d.work_closed = true;
  }
  d.work_cv.notify_all();
  for (auto& t : d.workers)
    t.join();
  // Every suspended connection has been resumed: let the loop hand out the
  // responses (at most a second), then close everything.
  d.exit_deadline = steady::now() + std::chrono::seconds{1};
  d.loop_exit = true;
  d.wake();
  d.loop_thread.join();
  if (d.suspended != 0)
    LOG(ERROR) << cfg_.node_name << ": admin: " << d.suspended
               << " requests still suspended at shutdown";
  MHD_stop_daemon(d.daemon);
  d.daemon = nullptr;
  ::close(d.wake_fd);
  d.wake_fd = -1;
}

// -- text helpers -------------------------------------------------------------

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
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
                 || c == '~' || c == '/';
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

namespace {
constexpr char b64[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
} // namespace

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16)
                 | (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8)
                 | static_cast<unsigned char>(in[i + 2]);
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += b64[(v >> 6) & 63];
    out += b64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    if (i + 1 < in.size())
      v |= uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(const std::string& in, std::string& out) {
  if (in.size() % 4 != 0)
    return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  std::string res;
  res.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int a = val(in[i]);
    int b = val(in[i + 1]);
    bool last = i + 4 == in.size();
    int c = last && in[i + 2] == '=' ? -2 : val(in[i + 2]);
    int d = last && in[i + 3] == '=' ? -2 : val(in[i + 3]);
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
      return false;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12)
                 | (c >= 0 ? uint32_t(c) << 6 : 0) | (d >= 0 ? uint32_t(d) : 0);
    res += static_cast<char>((v >> 16) & 0xff);
    if (c >= 0)
      res += static_cast<char>((v >> 8) & 0xff);
    if (d >= 0)
      res += static_cast<char>(v & 0xff);
  }
  out = std::move(res);
  return true;
}

} // namespace pekonode::node
