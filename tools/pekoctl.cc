// pekoctl: command-line client of a pekonode's admin HTTP API (see
// node/admin_http.h). It only formats requests and answers; all validation
// that matters happens on the node.

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "node/admin_http.h"
#include "node/options.h"

namespace {

using json = nlohmann::json;
using pekonode::node::percent_encode_key;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;  // node unreachable or answered an error
constexpr int exit_usage = 2;

const char* usage_text =
  R"(usage: pekoctl [--addr=HOST:PORT] [--json] [--timeout=SECONDS] COMMAND

Talks to a pekonode admin API (default 127.0.0.1:7947, or $PEKOCTL_ADDR).

commands:
  members                   list members (name, address, state, incarnation, tags)
  self                      this node's name, address, incarnation and tags
  health                    exit 0 when the node runs
  kv list                   all live keys with version, origin and size
  kv get KEY                print a value's raw bytes
  kv put KEY VALUE|-        write a value ('-' reads it from stdin)
  kv del KEY                delete a key
  kv watch [PREFIX]         stream changes (Ctrl-C to stop)
  metadata get              print the cluster metadata blob
  metadata put VALUE|-      publish the cluster metadata blob
  join HOST:PORT...         contact seeds
  leave                     leave the cluster gracefully
  rejoin                    come back after leave
  tags [K=V...]             show tags, or replace them with the given ones
  faults [--drop=R] [--block=IP:PORT,...]
                            show or change fault injection (node needs
                            --fault_injection); --block= clears the list
  metrics                   print Prometheus metrics

flags:
  --addr=HOST:PORT          admin address of the node
  --json                    print the node's raw JSON instead of tables
  --timeout=SECONDS         per-request timeout (default 10)
)";

struct cli {
  std::string addr = "127.0.0.1:7947";
  bool raw_json = false;
  int timeout_s = 10;
  std::string drop;
  bool has_drop = false;
  std::string block;
  bool has_block = false;
  std::vector<std::string> args;
};

int usage_error(const std::string& msg) {
  std::cerr << "pekoctl: " << msg << "\n(run 'pekoctl --help' for usage)\n";
  return exit_usage;
}

int fail(const std::string& msg) {
  std::cerr << "pekoctl: " << msg << "\n";
  return exit_failed;
}

// The node's one-line reason from a JSON error body, or the raw body.
std::string error_of(const httplib::Response& res) {
  try {
    auto j = json::parse(res.body);
    if (j.is_object() && j.contains("error") && j["error"].is_string())
      return j["error"].get<std::string>();
  } catch (const json::exception&) {
  }
  return res.body.empty() ? "(no body)" : res.body;
}

class client {
 public:
  client(const cli& opts, std::string host, uint16_t port)
    : opts_(opts), http_(host, port) {
    http_.set_url_encode(false);
    http_.set_connection_timeout(3, 0);
    http_.set_read_timeout(opts.timeout_s, 0);
    http_.set_write_timeout(opts.timeout_s, 0);
  }

  void set_read_timeout(int seconds) {
    http_.set_read_timeout(seconds, 0);
  }

  /// Sends one request; on transport failure or a non-2xx status prints the
  /// reason and returns false.
  bool call(const std::string& method, const std::string& path,
            const std::string& body, const std::string& type,
            httplib::Response& out) {
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET")
      r = http_.Get(path);
    else if (method == "PUT")
      r = http_.Put(path, body, type);
    else if (method == "POST")
      r = http_.Post(path, body, type);
    else if (method == "DELETE")
      r = http_.Delete(path);
    if (!r) {
      fail("cannot reach node at " + opts_.addr + " (" +
           httplib::to_string(r.error()) + " error; is pekonode running " +
           "with --admin=" + opts_.addr + "?)");
      return false;
    }
    out = *r;
    if (out.status < 200 || out.status > 299) {
      fail(method + " " + path + ": HTTP " + std::to_string(out.status) +
           ": " + error_of(out));
      return false;
    }
    return true;
  }

  bool get_json(const std::string& path, json& out, std::string* raw = nullptr) {
    httplib::Response res;
    if (!call("GET", path, {}, {}, res))
      return false;
    return parse(res, out, raw);
  }

  bool send_json(const std::string& method, const std::string& path,
                 const std::string& body, const std::string& type, json& out,
                 std::string* raw = nullptr) {
    httplib::Response res;
    if (!call(method, path, body, type, res))
      return false;
    return parse(res, out, raw);
  }

 private:
  static bool parse(const httplib::Response& res, json& out,
                    std::string* raw) {
    if (raw != nullptr)
      *raw = res.body;
    try {
      out = json::parse(res.body);
      return true;
    } catch (const json::exception& e) {
      fail(std::string{"node sent invalid JSON: "} + e.what());
      return false;
    }
  }

  const cli& opts_;
  httplib::Client http_;
};

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string tags_text(const json& tags) {
  std::string out;
  if (!tags.is_object())
    return out;
  for (auto& [k, v] : tags.items()) {
    if (!out.empty())
      out += ',';
    out += k + "=" + (v.is_string() ? v.get<std::string>() : dump(v));
  }
  return out;
}

std::string text_of(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return "";
  return dump(v);
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i)
    width[i] = header[i].size();
  for (auto& row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size())
        out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    out.erase(out.find_last_not_of(' ') + 1);
    std::cout << out << "\n";
  };
  line(header);
  for (auto& row : rows)
    line(row);
}

bool read_value(const std::string& arg, std::string& out) {
  if (arg != "-") {
    out = arg;
    return true;
  }
  out.assign(std::istreambuf_iterator<char>(std::cin),
             std::istreambuf_iterator<char>());
  return !std::cin.bad();
}

int cmd_members(const cli& o, client& c) {
  json j;
  std::string raw;
  if (!c.get_json("/v1/members", j, &raw))
    return exit_failed;
  if (o.raw_json) {
    std::cout << raw;
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& m : j.value("members", json::array()))
    rows.push_back({text_of(m["name"]), text_of(m["addr"]),
                    text_of(m["state"]), text_of(m["incarnation"]),
                    tags_text(m["tags"])});
  print_table({"NAME", "ADDRESS", "STATE", "INC", "TAGS"}, rows);
  return exit_ok;
}

int cmd_self(const cli& o, client& c) {
  json j;
  std::string raw;
  if (!c.get_json("/v1/self", j, &raw))
    return exit_failed;
  if (o.raw_json) {
    std::cout << raw;
    return exit_ok;
  }
  std::cout << "name:        " << text_of(j["name"]) << "\n"
            << "address:     " << text_of(j["addr"]) << "\n"
            << "incarnation: " << text_of(j["incarnation"]) << "\n"
            << "tags:        " << tags_text(j["tags"]) << "\n";
  return exit_ok;
}

int cmd_kv_watch(const cli& o, client& c, const std::string& prefix) {
  json j;
  if (!c.get_json("/v1/kv", j))
    return exit_failed;
  uint64_t index = j.value("index", uint64_t{0});
  constexpr int wait_s = 30;
  c.set_read_timeout(wait_s + 15);
  for (;;) {
    auto path = "/v1/kv?watch=1&wait=" + std::to_string(wait_s) +
                "s&index=" + std::to_string(index);
    if (!prefix.empty())
      path += "&prefix=" + percent_encode_key(prefix);
    json batch;
    std::string raw;
    if (!c.get_json(path, batch, &raw))
      return exit_failed;
    if (batch.value("truncated", false))
      std::cerr << "pekoctl: the node's change history no longer reaches "
                   "index "
                << index << "; some changes were missed (re-list with "
                << "'pekoctl kv list')\n";
    for (auto& ev : batch.value("events", json::array())) {
      if (o.raw_json)
        std::cout << dump(ev) << "\n";
      else
        std::cout << text_of(ev["index"]) << "  " << text_of(ev["kind"])
                  << "  " << text_of(ev["key"]) << "  "
                  << text_of(ev["version"]) << "\n";
    }
    std::cout.flush();
    index = batch.value("index", index);
  }
}

int cmd_kv(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() < 2)
    return usage_error("kv needs a subcommand: list, get, put, del, watch");
  auto& sub = a[1];
  if (sub == "list" && a.size() == 2) {
    json j;
    std::string raw;
    if (!c.get_json("/v1/kv", j, &raw))
      return exit_failed;
    if (o.raw_json) {
      std::cout << raw;
      return exit_ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& e : j.value("keys", json::array()))
      rows.push_back({text_of(e["key"]), text_of(e["version"]),
                      text_of(e["origin"]), text_of(e["size"])});
    print_table({"KEY", "VERSION", "ORIGIN", "SIZE"}, rows);
    return exit_ok;
  }
  if (sub == "get" && a.size() == 3) {
    httplib::Response res;
    if (!c.call("GET", "/v1/kv/" + percent_encode_key(a[2]), {}, {}, res))
      return exit_failed;
    std::cout.write(res.body.data(),
                    static_cast<std::streamsize>(res.body.size()));
    return exit_ok;
  }
  if (sub == "put" && a.size() == 4) {
    std::string value;
    if (!read_value(a[3], value))
      return fail("cannot read the value from stdin");
    json j;
    std::string raw;
    if (!c.send_json("PUT", "/v1/kv/" + percent_encode_key(a[2]), value,
                     "application/octet-stream", j, &raw))
      return exit_failed;
    std::cout << (o.raw_json ? raw : text_of(j["version"]) + "\n");
    return exit_ok;
  }
  if (sub == "del" && a.size() == 3) {
    json j;
    std::string raw;
    if (!c.send_json("DELETE", "/v1/kv/" + percent_encode_key(a[2]), {}, {},
                     j, &raw))
      return exit_failed;
    std::cout << (o.raw_json ? raw : text_of(j["version"]) + "\n");
    return exit_ok;
  }
  if (sub == "watch" && a.size() <= 3)
    return cmd_kv_watch(o, c, a.size() == 3 ? a[2] : std::string{});
  return usage_error("bad kv command; expected: kv list | kv get KEY | "
                     "kv put KEY VALUE|- | kv del KEY | kv watch [PREFIX]");
}

int cmd_metadata(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() == 2 && a[1] == "get") {
    httplib::Response res;
    if (!c.call("GET", "/v1/metadata", {}, {}, res))
      return exit_failed;
    std::cout.write(res.body.data(),
                    static_cast<std::streamsize>(res.body.size()));
    return exit_ok;
  }
  if (a.size() == 3 && a[1] == "put") {
    std::string value;
    if (!read_value(a[2], value))
      return fail("cannot read the value from stdin");
    json j;
    std::string raw;
    if (!c.send_json("PUT", "/v1/metadata", value, "application/octet-stream",
                     j, &raw))
      return exit_failed;
    std::cout << (o.raw_json ? raw : text_of(j["version"]) + "\n");
    return exit_ok;
  }
  return usage_error("expected: metadata get | metadata put VALUE|-");
}

int print_action(const cli& o, client& c, const std::string& path,
                 const std::string& body) {
  json j;
  std::string raw;
  if (!c.send_json("POST", path, body, "application/json", j, &raw))
    return exit_failed;
  if (o.raw_json)
    std::cout << raw;
  else
    std::cout << (text_of(j["detail"]).empty() ? "ok" : text_of(j["detail"]))
              << "\n";
  return exit_ok;
}

int cmd_join(const cli& o, client& c) {
  if (o.args.size() < 2)
    return usage_error("join needs at least one HOST:PORT");
  json seeds = json::array();
  for (size_t i = 1; i < o.args.size(); ++i) {
    pekonode::node::host_endpoint ep;
    if (auto err = pekonode::node::parse_host_endpoint(o.args[i], ep);
        !err.empty())
      return usage_error("seed " + o.args[i] + ": " + err);
    seeds.push_back(ep.to_string());
  }
  return print_action(o, c, "/v1/join", dump(json{{"seeds", seeds}}));
}

int cmd_tags(const cli& o, client& c) {
  if (o.args.size() == 1) {
    json j;
    if (!c.get_json("/v1/self", j))
      return exit_failed;
    if (o.raw_json)
      std::cout << dump(j["tags"]) << "\n";
    else
      for (auto& [k, v] : j["tags"].items())
        std::cout << k << "=" << text_of(v) << "\n";
    return exit_ok;
  }
  json tags = json::object();
  for (size_t i = 1; i < o.args.size(); ++i) {
    auto eq = o.args[i].find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("tag " + o.args[i] + " is not KEY=VALUE");
    auto key = o.args[i].substr(0, eq);
    if (tags.contains(key))
      return usage_error("duplicate tag key " + key);
    tags[key] = o.args[i].substr(eq + 1);
  }
  json j;
  std::string raw;
  if (!c.send_json("PUT", "/v1/tags", dump(tags), "application/json", j,
                   &raw))
    return exit_failed;
  std::cout << (o.raw_json ? raw : "tags: " + tags_text(j["tags"]) + "\n");
  return exit_ok;
}

int cmd_faults(const cli& o, client& c) {
  if (o.args.size() != 1)
    return usage_error("faults takes only --drop and --block");
  json j;
  std::string raw;
  if (!o.has_drop && !o.has_block) {
    if (!c.get_json("/v1/faults", j, &raw))
      return exit_failed;
  } else {
    json body = json::object();
    if (o.has_drop) {
      char* end = nullptr;
      double rate = std::strtod(o.drop.c_str(), &end);
      if (o.drop.empty() || *end != '\0' || !(rate >= 0.0 && rate <= 1.0))
        return usage_error("--drop must be a number in [0, 1]");
      body["drop_rate"] = rate;
    }
    if (o.has_block) {
      json blocked = json::array();
      size_t start = 0;
      while (start < o.block.size()) {
        auto comma = o.block.find(',', start);
        auto item = o.block.substr(start, comma == std::string::npos
                                            ? std::string::npos
                                            : comma - start);
        start = comma == std::string::npos ? o.block.size() : comma + 1;
        if (!item.empty())
          blocked.push_back(item);
      }
      body["blocked"] = blocked;
    }
    if (!c.send_json("POST", "/v1/faults", dump(body), "application/json", j,
                     &raw))
      return exit_failed;
  }
  if (o.raw_json) {
    std::cout << raw;
    return exit_ok;
  }
  std::string blocked;
  for (auto& b : j.value("blocked", json::array()))
    blocked += (blocked.empty() ? "" : ",") + text_of(b);
  std::cout << "drop_rate: " << text_of(j["drop_rate"]) << "\n"
            << "blocked:   " << (blocked.empty() ? "(none)" : blocked)
            << "\n";
  return exit_ok;
}

int run(const cli& o) {
  pekonode::node::host_endpoint ep;
  if (auto err = pekonode::node::parse_host_endpoint(o.addr, ep);
      !err.empty())
    return usage_error("--addr: " + err);
  client c{o, ep.host, ep.port};
  auto& a = o.args;
  auto& cmd = a[0];
  auto no_args = [&] { return a.size() == 1; };
  if (cmd == "members" && no_args())
    return cmd_members(o, c);
  if (cmd == "self" && no_args())
    return cmd_self(o, c);
  if (cmd == "health" && no_args()) {
    httplib::Response res;
    if (!c.call("GET", "/v1/health", {}, {}, res))
      return exit_failed;
    std::cout << "ok\n";
    return exit_ok;
  }
  if (cmd == "kv")
    return cmd_kv(o, c);
  if (cmd == "metadata")
    return cmd_metadata(o, c);
  if (cmd == "join")
    return cmd_join(o, c);
  if (cmd == "leave" && no_args())
    return print_action(o, c, "/v1/leave", {});
  if (cmd == "rejoin" && no_args())
    return print_action(o, c, "/v1/rejoin", {});
  if (cmd == "tags")
    return cmd_tags(o, c);
  if (cmd == "faults")
    return cmd_faults(o, c);
  if (cmd == "metrics" && no_args()) {
    httplib::Response res;
    if (!c.call("GET", "/metrics", {}, {}, res))
      return exit_failed;
    std::cout << res.body;
    return exit_ok;
  }
  return usage_error("unknown command or wrong arguments: " + cmd);
}

} // namespace

int main(int argc, char** argv) {
  cli o;
  if (auto* env = std::getenv("PEKOCTL_ADDR"); env != nullptr && *env != 0)
    o.addr = env;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || arg.rfind("--", 0) != 0) {
      o.args.push_back(std::move(arg));
      continue;
    }
    if (arg == "--") {
      flags_done = true;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return exit_ok;
    } else if (arg == "--json") {
      o.raw_json = true;
    } else if (arg.rfind("--addr=", 0) == 0) {
      o.addr = arg.substr(7);
    } else if (arg.rfind("--timeout=", 0) == 0) {
      char* end = nullptr;
      long t = std::strtol(arg.c_str() + 10, &end, 10);
      if (arg.size() == 10 || *end != '\0' || t < 1 || t > 3600)
        return usage_error("--timeout must be 1..3600 seconds");
      o.timeout_s = static_cast<int>(t);
    } else if (arg.rfind("--drop=", 0) == 0) {
      o.drop = arg.substr(7);
      o.has_drop = true;
    } else if (arg.rfind("--block=", 0) == 0) {
      o.block = arg.substr(8);
      o.has_block = true;
    } else {
      return usage_error("unknown flag " + arg +
                         " (put '--' before values starting with '--')");
    }
  }
  if (o.args.empty()) {
    std::cerr << usage_text;
    return exit_usage;
  }
  if ((o.has_drop || o.has_block) && o.args[0] != "faults")
    return usage_error("--drop and --block only apply to 'faults'");
  return run(o);
}
