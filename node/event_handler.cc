#include "node/event_handler.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/text.h"

extern char** environ;

namespace pekonode::node {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool is_member_type(const std::string& t) {
  return t.rfind("member", 0) == 0;
}

bool is_key_type(const std::string& t) {
  return t.rfind("key", 0) == 0;
}

bool looks_like_types(const std::string& s) {
  if (s.empty())
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '-' || c == ',' || c == '*';
  });
}

std::string no_nul(std::string s, size_t max = 4096) {
  s.erase(std::remove(s.begin(), s.end(), '\0'), s.end());
  if (s.size() > max)
    s.resize(max);
  return s;
}

std::string field_text(const nlohmann::json& payload, const char* name) {
  if (!payload.is_object() || !payload.contains(name))
    return {};
  auto& v = payload[name];
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return {};
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Blocks SIGPIPE on this thread while alive, so that writing to a handler
/// that exited gives EPIPE instead of killing the process; a SIGPIPE raised
/// meanwhile is consumed before the old mask returns.
class sigpipe_guard {
 public:
  sigpipe_guard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~sigpipe_guard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    timespec zero{0, 0};
    while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
};

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

} // namespace

// -- specs ------------------------------------------------------------------------

bool handler_spec::matches(const event_record& ev) const {
  event_filter f;
  f.types = types;
  if (!f.matches(ev))
    return false;
  if (filter.empty())
    return true;
  if (is_member_type(ev.type))
    return name_re && std::regex_match(ev.subject, *name_re);
  if (is_key_type(ev.type))
    return ev.subject.compare(0, filter.size(), filter) == 0;
  return ev.subject == filter;
}

std::string parse_handler_spec(const std::string& text, handler_spec& out) {
  out = handler_spec{};
  out.text = text;
  if (text.find('\0') != std::string::npos || text.find('\n') != std::string::npos)
    return "event handler " + quote(text, 64)
           + ": contains a NUL byte or a newline";
  std::string program = text;
  auto eq = text.find('=');
  if (eq != std::string::npos) {
    auto left = text.substr(0, eq);
    auto colon = left.find(':');
    auto types = left.substr(0, colon);
    bool filter_ok = colon == std::string::npos
                     || left.find_first_of(" \t", colon) == std::string::npos;
    if (looks_like_types(types) && filter_ok) {
      if (auto why = parse_event_types(types, out.types); !why.empty())
        return "event handler " + quote(text, 64) + ": " + why;
      if (std::find(out.types.begin(), out.types.end(), "*") != out.types.end())
        out.types.clear();
      if (colon != std::string::npos) {
        out.filter = left.substr(colon + 1);
        if (out.filter.empty())
          return "event handler " + quote(text, 64)
                 + ": empty filter after ':'";
        if (out.filter.size() > max_handler_filter_bytes)
          return "event handler " + quote(text, 64) + ": filter longer than "
                 + std::to_string(max_handler_filter_bytes) + " bytes";
        bool members = out.types.empty()
                       || std::any_of(out.types.begin(), out.types.end(),
                                      is_member_type);
        if (members) {
          try {
            out.name_re = std::make_shared<const std::regex>(
              out.filter, std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return "event handler " + quote(text, 64) + ": filter "
                   + quote(out.filter, 64)
                   + " is not a valid regular expression for member names ("
                   + e.what() + ")";
          }
        }
      }
      program = text.substr(eq + 1);
    }
  }
  auto first = program.find_first_not_of(" \t");
  if (first == std::string::npos)
    return "event handler " + quote(text, 64) + ": no program";
  if (program.size() > max_handler_program_bytes)
    return "event handler " + quote(text, 64) + ": program longer than "
           + std::to_string(max_handler_program_bytes) + " bytes";
  out.program = program;
  return {};
}

std::string parse_handler_list(const std::string& text,
                               std::vector<handler_spec>& out) {
  out.clear();
  size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos)
      nl = text.size();
    auto line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    if (out.size() >= 64)
      return "more than 64 event handlers";
    handler_spec spec;
    if (auto why = parse_handler_spec(line, spec); !why.empty())
      return why;
    out.push_back(std::move(spec));
  }
  return {};
}

std::vector<std::string> repeated_flag_values(int argc, char** argv,
                                              const std::string& name) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--")
      break;
    if (a.rfind("--", 0) == 0)
      a.erase(0, 2);
    else if (a.rfind("-", 0) == 0)
      a.erase(0, 1);
    else
      continue;
    if (a.rfind(name + "=", 0) == 0)
      out.push_back(a.substr(name.size() + 1));
    else if (a == name && i + 1 < argc)
      out.push_back(argv[++i]);
  }
  return out;
}

// -- one run ------------------------------------------------------------------------

std::vector<std::string> handler_environment(const event_record& ev,
                                             const handler_config& cfg) {
  std::vector<std::string> env;
  auto add = [&env](const char* name, const std::string& value) {
    env.push_back(std::string{name} + "=" + no_nul(value));
  };
  add("PEKONODE_EVENT", ev.type);
  add("PEKONODE_EVENT_INDEX", std::to_string(ev.index));
  add("PEKONODE_EVENT_TIME", std::to_string(ev.time_ms));
  add("PEKONODE_SELF_NAME", cfg.self_name);
  add("PEKONODE_SELF_ADDR", cfg.self_addr);
  if (is_member_type(ev.type)) {
    add("PEKONODE_NODE_NAME", ev.subject);
    add("PEKONODE_NODE_ADDR", field_text(ev.payload, "addr"));
    add("PEKONODE_NODE_STATE", field_text(ev.payload, "state"));
    add("PEKONODE_NODE_INCARNATION", field_text(ev.payload, "incarnation"));
  } else if (is_key_type(ev.type)) {
    add("PEKONODE_KEY", ev.subject);
    add("PEKONODE_KEY_VERSION", field_text(ev.payload, "version"));
    add("PEKONODE_KEY_ORIGIN", field_text(ev.payload, "origin"));
    add("PEKONODE_KEY_SIZE", field_text(ev.payload, "size"));
  } else {
    add(ev.type == event_types::query ? "PEKONODE_QUERY_NAME"
                                      : "PEKONODE_USER_EVENT",
        ev.subject);
    add("PEKONODE_NODE_NAME", field_text(ev.payload, "origin"));
  }
  return env;
}

std::string handler_stdin(const event_record& ev) {
  if ((ev.type == event_types::user || ev.type == event_types::query)
      && ev.payload.is_object() && ev.payload.contains("payload")
      && ev.payload["payload"].is_string())
    return ev.payload["payload"].get<std::string>();
  return to_json(ev).dump(-1, ' ', false,
                          nlohmann::json::error_handler_t::replace)
         + "\n";
}

handler_result run_handler_process(const std::string& program,
                                   const std::vector<std::string>& env,
                                   const std::string& input,
                                   const handler_config& cfg,
                                   const std::atomic<bool>& cancel) {
  handler_result r;
  sigpipe_guard no_sigpipe;
  auto t0 = steady::now();
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err})
      for (int i = 0; i < 2; ++i)
        if (p[i] >= 0) {
          ::close(p[i]);
          p[i] = -1;
        }
  };
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0
      || ::pipe2(err, O_CLOEXEC) != 0) {
    r.error = std::string{"pipe: "} + std::strerror(errno);
    close_all();
    return r;
  }
  // The node's environment minus any PEKONODE_* of its own, plus the event.
  std::vector<std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, "PEKONODE_", 9) != 0)
      vars.emplace_back(*e);
  vars.insert(vars.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& v : vars)
    envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", prog = program;
  char* argv[] = {sh.data(), dash_c.data(), prog.data(), nullptr};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that a timeout kills what it started too;
  // default signal dispositions and an empty mask (the node blocks some).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                     | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, sh.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  in[0] = -1;
  ::close(out[1]);
  out[1] = -1;
  ::close(err[1]);
  err[1] = -1;
  if (rc != 0) {
    r.error = std::string{"cannot start /bin/sh: "} + std::strerror(rc);
    close_all();
    return r;
  }
  r.started = true;
  set_nonblocking(in[1]);
  set_nonblocking(out[0]);
  set_nonblocking(err[0]);
  size_t written = 0;
  if (input.empty()) {
    ::close(in[1]);
    in[1] = -1;
  }
  auto deadline = t0 + cfg.timeout;
  auto kill_at = steady::time_point::max();
  bool exited = false;
  int status = 0;
  bool status_lost = false;
  steady::time_point exited_at;
  auto take = [&](int& fd, std::string& into, bool& truncated) {
    char buf[16384];
    for (;;) {
      auto n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        size_t room = cfg.output_limit > into.size()
                        ? cfg.output_limit - into.size()
                        : 0;
        into.append(buf, std::min(room, static_cast<size_t>(n)));
        if (static_cast<size_t>(n) > room)
          truncated = true;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fd);
        fd = -1;
      }
      return;
    }
  };
  for (;;) {
    auto now = steady::now();
    if (!exited) {
      auto w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno == ECHILD)) {
        // ECHILD: something set SIGCHLD to SIG_IGN and the kernel reaped
        // it; the exit status is lost (reported as a failure).
        status_lost = w < 0;
        exited = true;
        exited_at = now;
      }
    }
    // Done when it exited and its pipes are closed; a grandchild that keeps
    // them open gets 100 ms after the exit.
    if (exited && ((out[0] < 0 && err[0] < 0)
                   || now - exited_at > milliseconds{100}))
      break;
    if (!exited && !r.timed_out && (now >= deadline || cancel)) {
      r.timed_out = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + cfg.kill_grace;
    }
    if (!exited && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = steady::time_point::max();
    }
    pollfd fds[3];
    nfds_t n = 0;
    if (in[1] >= 0)
      fds[n++] = {in[1], POLLOUT, 0};
    if (out[0] >= 0)
      fds[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0)
      fds[n++] = {err[0], POLLIN, 0};
    // Short slices: the child's exit is seen by waitpid, not by poll.
    ::poll(fds, n, n == 0 ? 10 : 20);
    if (in[1] >= 0) {
      auto w = ::write(in[1], input.data() + written, input.size() - written);
      if (w > 0)
        written += static_cast<size_t>(w);
      if (written == input.size() || (w < 0 && errno != EAGAIN
                                      && errno != EINTR)) {
        ::close(in[1]);
        in[1] = -1;
      }
    }
    if (out[0] >= 0)
      take(out[0], r.out, r.out_truncated);
    if (err[0] >= 0)
      take(err[0], r.err, r.err_truncated);
  }
  // Whatever it left behind in its group goes too.
  ::kill(-pid, SIGKILL);
  close_all();
  if (status_lost)
    r.error = "exit status lost (SIGCHLD is ignored in this process)";
  else if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.term_signal = WTERMSIG(status);
  r.took = std::chrono::duration_cast<milliseconds>(steady::now() - t0);
  return r;
}

// -- the runner ------------------------------------------------------------------------

handler_runner::handler_runner(handler_config cfg) : cfg_(std::move(cfg)) {
  cfg_.max_concurrent = std::max<size_t>(cfg_.max_concurrent, 1);
  stats_.describe("pekonode_event_handler_runs_total", metric_kind::counter,
                  "Event handler runs by outcome (ok, failed, timeout, "
                  "spawn_error).");
  for (auto* o : {"ok", "failed", "timeout", "spawn_error"})
    stats_.set("pekonode_event_handler_runs_total", {{"outcome", o}}, 0);
  stats_.describe("pekonode_event_handler_dropped_total", metric_kind::counter,
                  "Event handler runs dropped because the queue was full.");
  stats_.set("pekonode_event_handler_dropped_total", {}, 0);
  stats_.describe("pekonode_event_handler_queue", metric_kind::gauge,
                  "Event handler runs waiting for a free slot.");
  stats_.set("pekonode_event_handler_queue", {}, 0);
  stats_.describe("pekonode_event_handler_running", metric_kind::gauge,
                  "Event handlers running now.");
  stats_.set("pekonode_event_handler_running", {}, 0);
  for (size_t i = 0; i < cfg_.max_concurrent; ++i)
    threads_.emplace_back([this] { work(); });
}

handler_runner::~handler_runner() {
  stop();
}

void handler_runner::set_handlers(std::vector<handler_spec> handlers) {
  std::vector<std::shared_ptr<const handler_spec>> next;
  for (auto& h : handlers)
    next.push_back(std::make_shared<const handler_spec>(std::move(h)));
  std::lock_guard<std::mutex> guard{mtx_};
  handlers_ = std::move(next);
}

std::vector<std::string> handler_runner::handlers() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& h : handlers_)
    out.push_back(h->text);
  return out;
}

void handler_runner::submit(const event_record& ev) {
  enqueue(ev, nullptr);
}

size_t handler_runner::run(const event_record& ev, done_fn done) {
  return enqueue(ev, done);
}

size_t handler_runner::enqueue(const event_record& ev, const done_fn& done) {
  size_t queued = 0;
  size_t dropped = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return 0;
    for (auto& h : handlers_) {
      if (!h->matches(ev))
        continue;
      if (queue_.size() >= cfg_.queue_size) {
        ++dropped;
        continue;
      }
      queue_.push_back(job{h, ev, done});
      ++queued;
    }
    stats_.set("pekonode_event_handler_queue", {},
               static_cast<double>(queue_.size()));
  }
  if (dropped != 0) {
    stats_.add("pekonode_event_handler_dropped_total", {},
               static_cast<double>(dropped));
    LOG_EVERY_N(WARNING, 100)
      << cfg_.self_name << ": event handler queue full ("
      << cfg_.queue_size << "): dropped " << dropped << " run(s) for event #"
      << ev.index << " " << ev.type;
  }
  if (queued != 0)
    cv_.notify_all();
  return queued;
}

void handler_runner::work() {
  for (;;) {
    job j;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_)
        return;
      j = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      stats_.set("pekonode_event_handler_queue", {},
                 static_cast<double>(queue_.size()));
      stats_.set("pekonode_event_handler_running", {},
                 static_cast<double>(running_));
    }
    auto r = run_handler_process(j.spec->program,
                                 handler_environment(j.ev, cfg_),
                                 handler_stdin(j.ev), cfg_, cancel_);
    r.handler = j.spec->text;
    r.event_index = j.ev.index;
    r.event_type = j.ev.type;
    finish(j, r);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      --running_;
      stats_.set("pekonode_event_handler_running", {},
                 static_cast<double>(running_));
    }
    cv_.notify_all();
  }
}

void handler_runner::finish(const job& j, const handler_result& r) {
  const char* outcome = !r.started   ? "spawn_error"
                        : r.timed_out ? "timeout"
                        : r.ok()      ? "ok"
                                      : "failed";
  stats_.add("pekonode_event_handler_runs_total", {{"outcome", outcome}}, 1);
  // Output is the handler's, not ours: escaped and cut before it is logged.
  std::string line = cfg_.self_name + ": event handler " + quote(r.handler, 80)
                     + " for #" + std::to_string(r.event_index) + " "
                     + r.event_type + ": ";
  if (!r.started)
    line += "not started: " + r.error;
  else if (r.timed_out)
    line += "killed after " + std::to_string(cfg_.timeout.count())
            + " ms (timeout)";
  else if (r.term_signal != 0)
    line += "killed by signal " + std::to_string(r.term_signal);
  else
    line += "exit " + std::to_string(r.exit_code);
  line += " in " + std::to_string(r.took.count()) + " ms";
  if (!r.out.empty())
    line += "; stdout: " + escape(r.out, 512);
  if (!r.err.empty())
    line += "; stderr: " + escape(r.err, 512);
  if (r.ok())
    LOG(INFO) << line;
  else
    LOG(WARNING) << line;
  if (j.done)
    j.done(r);
}

void handler_runner::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && threads_.empty())
      return;
    stopping_ = true;
    queue_.clear();
  }
  cancel_ = true;
  cv_.notify_all();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  stats_.set("pekonode_event_handler_queue", {}, 0);
}

bool handler_runner::await_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> guard{mtx_};
  return cv_.wait_for(guard, timeout,
                      [&] { return queue_.empty() && running_ == 0; });
}

size_t handler_runner::running() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return running_;
}

} // namespace pekonode::node
