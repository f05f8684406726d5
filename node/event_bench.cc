// Measures the event path: what one append costs the appending (actor)
// thread, alone and with the handler runner listening, and how fast one
// GET /v1/events reader on loopback receives events.
//
//   bazel run -c opt //node:event_bench [-- EVENTS]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "node/admin_http.h"
#include "node/event_handler.h"
#include "node/event_log.h"
#include "node/fake_admin_backend.h"

namespace {

using namespace pekonode::node;
using steady = std::chrono::steady_clock;

nlohmann::json key_payload(size_t i) {
  return nlohmann::json{{"key", "app/config/" + std::to_string(i)},
                        {"version", "1796073443548.0@node-1"},
                        {"origin", "node-1"},
                        {"size", 120},
                        {"local", false}};
}

double ns_per_append(event_log& log, size_t n) {
  auto t0 = steady::now();
  for (size_t i = 0; i < n; ++i)
    log.append(event_types::key_put, "app/config/" + std::to_string(i),
               key_payload(i));
  return std::chrono::duration<double, std::nano>(steady::now() - t0).count()
         / static_cast<double>(n);
}

} // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  {
    auto t0 = steady::now();
    size_t sink = 0;
    for (size_t i = 0; i < n; ++i)
      sink += key_payload(i).size();
    std::printf("building the payload alone:          %8.0f ns/event (%zu)\n",
                std::chrono::duration<double, std::nano>(steady::now() - t0)
                    .count()
                  / static_cast<double>(n),
                sink / n);
  }
  {
    event_log log{4096};
    std::printf("append, no listener:                 %8.0f ns/event\n",
                ns_per_append(log, n));
  }
  {
    event_log log{4096};
    handler_runner runner{handler_config{}};
    handler_spec h;
    parse_handler_spec("user:never=true", h);
    runner.set_handlers({h});
    log.add_listener([&runner](const event_record& ev) { runner.submit(ev); });
    std::printf("append, runner listening (no match): %8.0f ns/event\n",
                ns_per_append(log, n));
    runner.stop();
  }
  {
    event_log log{n + 16};
    fake_admin_backend backend;
    admin_config cfg;
    cfg.events = &log;
    admin_server server{backend, cfg};
    if (!server.start("127.0.0.1", 0).empty())
      return 1;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(server.port());
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0)
      return 1;
    std::string req = "GET /v1/events?index=0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void) ::send(fd, req.data(), req.size(), 0);
    server.await_event_streams(1, std::chrono::seconds{10});
    // HTTP/1.0: no chunked framing, so after the headers the reader counts
    // newlines: one per event, plus the opening heartbeat line.
    size_t lines = 0;
    size_t bytes = 0;
    auto t0 = steady::now();
    std::thread producer{[&] { ns_per_append(log, n); }};
    char buf[65536];
    bool in_body = false;
    std::string head;
    while (lines < n + 1) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0)
        break;
      auto got = ::recv(fd, buf, sizeof(buf), 0);
      if (got <= 0)
        break;
      ssize_t start = 0;
      if (!in_body) {
        head.append(buf, static_cast<size_t>(got));
        auto end = head.find("\r\n\r\n");
        if (end == std::string::npos)
          continue;
        in_body = true;
        start = static_cast<ssize_t>(got)
                - static_cast<ssize_t>(head.size() - end - 4);
      }
      bytes += static_cast<size_t>(got - start);
      for (ssize_t i = start; i < got; ++i)
        lines += buf[i] == '\n' ? 1 : 0;
    }
    double secs = std::chrono::duration<double>(steady::now() - t0).count();
    producer.join();
    ::close(fd);
    server.stop();
    std::printf("one NDJSON reader on loopback:       %8.0f events/s, %.1f "
                "MB/s (%zu events in %.2f s)\n",
                static_cast<double>(lines - 1) / secs, bytes / secs / 1e6,
                lines - 1, secs);
  }
  return 0;
}
