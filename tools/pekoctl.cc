// pekoctl: command-line client of a pekonode's admin HTTP API (see
// node/admin_http.h and docs/CLI.md). It only formats requests and answers;
// all validation that matters happens on the node.

#include <httplib.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ctime>
#include <algorithm>
#include <iostream>
#include <iterator>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "node/admin_http.h"
#include "node/admin_http_guard.h"
#include "node/options.h"
#include "node/version.h"
#include "transport/crypto.h"

namespace {

using json = nlohmann::json;
using pekonode::node::percent_encode_key;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;  // node unreachable or answered an error
constexpr int exit_usage = 2;

const char* usage_text =
  R"(usage: pekoctl [--addr=[https://]HOST:PORT] [--json] [--timeout=SECONDS]
               [--token_file=PATH] [--ca_file=PATH] COMMAND [ARGS] [FLAGS]

Talks to a pekonode admin API (default 127.0.0.1:7947, or $PEKOCTL_ADDR).
docs/CLI.md maps serf and consul commands to these.

commands:
  members [--status=S,...] [--name=RE] [--tag=K=RE]... [--detailed]
          [--format=table|json]
                            list members; filters are anchored regular
                            expressions, --tag may repeat (all must match)
  self                      this node's name, address, incarnation and tags
  health                    exit 0 when the node runs and has not left
  ready                     exit 0 when the node has joined a cluster
  kv list [--prefix=P]      live keys with version, origin and size
  kv get KEY                print a value's raw bytes
  kv get --recurse PREFIX   print KEY:VALUE for every key under PREFIX
  kv put KEY VALUE|- [--cas=V] [--replicas=K [--wait=DURATION]]
                            write a value ('-' reads it from stdin);
                            --cas=V only over version V (as 'kv list'
                            prints it), --cas=0 only if the key is absent;
                            --replicas=K returns once K nodes (this one
                            included) hold it, or fails after --wait
                            (default 5s) saying how many did
  kv del KEY [--strict] [--cas=V] [--replicas=K [--wait=DURATION]]
                            delete a key (absent is fine unless --strict)
  kv watch [PREFIX]         stream changes (Ctrl-C to stop)
  metadata get              print the cluster metadata blob
  metadata put VALUE|-      publish the cluster metadata blob
  join HOST:PORT... [--wait=DURATION]
                            join through seeds; fails when none answered
                            within --wait (default 10s; 0: do not wait)
  leave                     leave the cluster gracefully
  rejoin                    come back after leave
  tags                      show this node's tags
  tags --set K=V... --delete K...
                            change some tags, keep the others
  tags K=V... | tags --clear
                            replace all tags | remove all tags
  faults [--drop=R] [--block=IP:PORT,...] [--delay=MS] [--jitter=MS]
                            show or change fault injection on inbound
                            datagrams (node needs --fault_injection);
                            --block= clears the list; --delay/--jitter hold
                            each datagram MS +/- uniform jitter (whole ms)
  force-leave NAME          mark a failed (dead or suspect) member as left,
                            so it is reaped and not retried
  snapshot save FILE        write a point-in-time copy of the node's
                            key/value store (tombstones included) to FILE
  snapshot restore FILE     apply a snapshot: every entry wins or loses
                            against the version held by last-writer-wins
  monitor [--type=T,...] [--prefix=P] [--index=N]
                            print the node's events as they happen, one
                            line each (--json: the node's JSON lines);
                            types: member, key, user, query or exact ones
                            such as member-dead, key-put; --prefix matches
                            member names and keys; --index=N resumes after
                            event N (0: everything the node keeps)
  event NAME [PAYLOAD|-] [--coalesce]
                            send a user event to every node ('-' reads
                            the payload from stdin; name + payload <= 512
                            bytes); --coalesce: handlers may see only the
                            newest of a burst of this name
  query NAME [PAYLOAD|-] [--node=RE] [--tag=K=RE]... [--timeout=DURATION]
                            ask the matching nodes (anchored RE2 patterns
                            on name and tags) and print their acks and
                            responses until the timeout (default 3s, at
                            most 60s), then the members that did not ack
  metrics                   print Prometheus metrics
  version                   print pekoctl's version and the node's
  keygen                    print a new random gossip key (base64, 32
                            bytes) for a --keyring_file line; local only
  keyring list [--local]    the gossip keys of every live node by
                            fingerprint (never the keys themselves): how
                            many nodes hold each, and use it as primary
  keyring install KEY       add KEY (from 'pekoctl keygen', or '-' to read
                            it from stdin) as a secondary key on every node
  keyring use KEY|FP        make an installed key primary (it encrypts)
  keyring remove KEY|FP     remove an installed key that is not primary
                            (a rotation: install, use, remove; each step
                            reaches every live node and exits 1, naming
                            them, if some did not take it; --local: this
                            node only)
  help                      print this text

flags:
  --addr=[https://]HOST:PORT  admin address of the node
  --json                    print the node's JSON instead of tables
  --timeout=SECONDS         per-request timeout (default 10); for
                            'query' the query's timeout (500ms, 3s, 1m)
  --token_file=PATH         admin token (else $PEKOCTL_TOKEN, else the file
                            named by $PEKOCTL_TOKEN_FILE)
  --ca_file=PATH            CA certificate(s) to verify an https:// node
  --version                 print pekoctl's version
  -h, --help                print this text

exit codes: 0 ok, 1 the node refused or could not be reached, 2 usage.
)";

struct cli {
  std::string addr = "127.0.0.1:7947";
  bool raw_json = false;
  int timeout_s = 10;
  std::string token_file;
  std::string ca_file;
  std::vector<std::string> args;
  /// 'query' takes --timeout as the query's timeout (a duration).
  std::string query_timeout;
  // Command flags: name -> values (repeatable ones keep all).
  std::map<std::string, std::vector<std::string>> flags;

  bool has(const std::string& f) const {
    return flags.count(f) != 0;
  }
  const std::string& one(const std::string& f) const {
    return flags.at(f).back();
  }
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

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

class client {
 public:
  client(const cli& opts, const std::string& scheme_host_port,
         const std::string& token)
    : opts_(opts), http_(scheme_host_port) {
    http_.set_url_encode(false);
    http_.set_connection_timeout(3, 0);
    http_.set_read_timeout(opts.timeout_s, 0);
    http_.set_write_timeout(opts.timeout_s, 0);
    if (!token.empty())
      http_.set_bearer_token_auth(token);
    if (!opts.ca_file.empty())
      http_.set_ca_cert_path(opts.ca_file);
  }

  void set_read_timeout(int seconds) {
    http_.set_read_timeout(seconds, 0);
  }

  /// GET with the body handed to `on_data` as it arrives (return false from
  /// it to stop). Transport failures are reported by the caller.
  httplib::Result stream(const std::string& path, int& status,
                         std::string& error_body,
                         httplib::ContentReceiver on_data) {
    return http_.Get(
      path, httplib::Headers{},
      [&status](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&status, &error_body, on_data](const char* data, size_t n) {
        if (status != 200) {
          if (error_body.size() < 4096)
            error_body.append(data, std::min<size_t>(n, 4096));
          return true;
        }
        return on_data(data, n);
      });
  }

  /// Sends one request; on transport failure or a status not in `ok`
  /// prints the reason and returns false.
  bool call(const std::string& method, const std::string& path,
            const std::string& body, const std::string& type,
            httplib::Response& out, std::set<int> ok = {}) {
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET")
      r = http_.Get(path);
    else if (method == "PUT")
      r = http_.Put(path, body, type);
    else if (method == "PATCH")
      r = http_.Patch(path, body, type);
    else if (method == "POST")
      r = http_.Post(path, body, type);
    else if (method == "DELETE" && !body.empty())
      r = http_.Delete(path, body, type);
    else if (method == "DELETE")
      r = http_.Delete(path);
    if (!r) {
      fail("cannot reach node at " + opts_.addr + " ("
           + httplib::to_string(r.error()) + " error; is pekonode running "
           + "with --admin=" + opts_.addr + "?)");
      return false;
    }
    out = *r;
    if ((out.status < 200 || out.status > 299) && ok.count(out.status) == 0) {
      fail(method + " " + path + ": HTTP " + std::to_string(out.status)
           + ": " + error_of(out));
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

 private:
  const cli& opts_;
  httplib::Client http_;
};

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

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto item = s.substr(start, comma == std::string::npos ? std::string::npos
                                                           : comma - start);
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

// -- members ---------------------------------------------------------------------

struct member_filter {
  std::set<std::string> states;
  std::optional<std::regex> name;
  std::vector<std::pair<std::string, std::regex>> tags;

  bool keeps(const json& m) const {
    if (!states.empty() && states.count(text_of(m["state"])) == 0)
      return false;
    if (name && !std::regex_match(text_of(m["name"]), *name))
      return false;
    for (auto& [key, re] : tags) {
      auto& t = m["tags"];
      if (!t.is_object() || !t.contains(key) || !t[key].is_string()
          || !std::regex_match(t[key].get<std::string>(), re))
        return false;
    }
    return true;
  }
};

int make_filter(const cli& o, member_filter& f) {
  static const std::set<std::string> known{"alive", "suspect", "dead", "left"};
  if (o.has("status"))
    for (auto& v : o.flags.at("status"))
      for (auto& s : split_commas(v)) {
        if (known.count(s) == 0)
          return usage_error("--status: " + s
                             + " is not a state (alive, suspect, dead, left)");
        f.states.insert(s);
      }
  try {
    if (o.has("name"))
      f.name = std::regex{o.one("name")};
    if (o.has("tag"))
      for (auto& v : o.flags.at("tag")) {
        auto eq = v.find('=');
        if (eq == std::string::npos || eq == 0)
          return usage_error("--tag=" + v + " is not KEY=REGEX");
        f.tags.emplace_back(v.substr(0, eq), std::regex{v.substr(eq + 1)});
      }
  } catch (const std::regex_error& e) {
    return usage_error(std::string{"bad regular expression: "} + e.what());
  }
  return exit_ok;
}

int cmd_members(const cli& o, client& c) {
  member_filter f;
  if (int rc = make_filter(o, f); rc != exit_ok)
    return rc;
  std::string format = o.has("format") ? o.one("format") : "table";
  if (format != "table" && format != "json")
    return usage_error("--format must be table or json");
  json j;
  if (!c.get_json("/v1/members", j))
    return exit_failed;
  json kept = json::array();
  for (auto& m : j.value("members", json::array()))
    if (f.keeps(m))
      kept.push_back(m);
  if (o.raw_json || format == "json") {
    std::cout << dump(json{{"members", kept}}) << "\n";
    return exit_ok;
  }
  if (o.has("detailed")) {
    bool first = true;
    for (auto& m : kept) {
      if (!first)
        std::cout << "\n";
      first = false;
      std::cout << "name:        " << text_of(m["name"]) << "\n"
                << "address:     " << text_of(m["addr"]) << "\n"
                << "state:       " << text_of(m["state"]) << "\n"
                << "incarnation: " << text_of(m["incarnation"]) << "\n"
                << "tags:" << (m["tags"].empty() ? "        (none)" : "")
                << "\n";
      for (auto& [k, v] : m["tags"].items())
        std::cout << "  " << k << " = " << text_of(v) << "\n";
    }
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& m : kept)
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

// -- monitor -------------------------------------------------------------------------

// Control characters never reach the terminal.
std::string printable_text(const std::string& in) {
  std::string out;
  for (unsigned char ch : in) {
    if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string utc_text(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf,
                static_cast<int>(((ms % 1000) + 1000) % 1000));
  return out;
}

// One event as a line: time, index, type, subject, then its fields.
std::string event_line(const json& ev) {
  std::string line = utc_text(ev.value("time", int64_t{0})) + "  #"
                     + text_of(ev["index"]) + "  " + text_of(ev["type"])
                     + "  " + text_of(ev["subject"]);
  for (auto it = ev.begin(); it != ev.end(); ++it) {
    auto& k = it.key();
    if (k == "time" || k == "index" || k == "type" || k == "subject"
        || k == "name" || k == "key")
      continue;
    line += "  " + k + "=" + text_of(it.value());
  }
  return printable_text(line);
}

int cmd_monitor(const cli& o, client& c) {
  std::string query;
  auto add = [&](const std::string& k, const std::string& v) {
    query += (query.empty() ? "?" : "&") + k + "=" + percent_encode_key(v);
  };
  std::optional<uint64_t> index;
  if (o.has("index")) {
    auto& v = o.one("index");
    if (v.empty() || v.size() > 20
        || v.find_first_not_of("0123456789") != std::string::npos)
      return usage_error("--index must be a non-negative integer");
    index = std::stoull(v);
  }
  if (o.has("type"))
    add("type", o.one("type"));
  if (o.has("prefix"))
    add("prefix", o.one("prefix"));
  // The node writes a heartbeat every 15 s; three missed ones mean it is gone.
  c.set_read_timeout(std::max(o.timeout_s, 45));
  for (;;) {
    auto path = "/v1/events" + query;
    if (index)
      path += (query.empty() ? "?" : "&") + std::string{"index="}
              + std::to_string(*index);
    std::string pending;
    bool cut = false;
    int status = 0;
    std::string error_body;
    auto r = c.stream(path, status, error_body,
                      [&](const char* data, size_t n) {
      pending.append(data, n);
      for (auto nl = pending.find('\n'); nl != std::string::npos;
           nl = pending.find('\n')) {
        auto text = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        json ev;
        try {
          ev = json::parse(text);
        } catch (const json::exception&) {
          std::cerr << "pekoctl: unreadable line from the node: "
                    << printable_text(text.substr(0, 200)) << "\n";
          continue;
        }
        auto type = ev.value("type", std::string{});
        if (type == "heartbeat") {
          if (!index)
            index = ev.value("index", uint64_t{0});
          continue;
        }
        if (type == "reset") {
          std::cerr << "pekoctl: the node no longer keeps the events after "
                       "index "
                    << text_of(ev["index"]) << " (" << text_of(ev["reason"])
                    << "); some were missed\n";
          continue;
        }
        if (type == "cutoff") {
          std::cerr << "pekoctl: " << text_of(ev["error"])
                    << "; reconnecting\n";
          cut = true;
          continue;
        }
        if (ev.contains("index") && ev["index"].is_number_unsigned())
          index = ev["index"].get<uint64_t>();
        std::cout << (o.raw_json ? dump(ev) : event_line(ev)) << "\n";
      }
      std::cout.flush();
      return true;
    });
    if (!r)
      return fail("event stream from " + o.addr + " ended ("
                  + httplib::to_string(r.error()) + " error)");
    if (r->status != 200) {
      httplib::Response err = *r;
      err.body = error_body;
      return fail("GET " + path + ": HTTP " + std::to_string(r->status) + ": "
                  + error_of(err));
    }
    if (!cut)
      return fail("the node at " + o.addr + " ended the event stream (node "
                  "stopping?)");
  }
}

// -- kv ----------------------------------------------------------------------------

int cmd_kv_watch(const cli& o, client& c, const std::string& prefix) {
  json j;
  if (!c.get_json("/v1/kv", j))
    return exit_failed;
  uint64_t index = j.value("index", uint64_t{0});
  constexpr int wait_s = 30;
  c.set_read_timeout(wait_s + 15);
  for (;;) {
    auto path = "/v1/kv?watch=1&wait=" + std::to_string(wait_s)
                + "s&index=" + std::to_string(index);
    if (!prefix.empty())
      path += "&prefix=" + percent_encode_key(prefix);
    json batch;
    if (!c.get_json(path, batch))
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

// The query of `kv put|del --cas --replicas --wait`, checked here so that a
// typo is a usage error, not a round trip.
int write_query(const cli& o, client& c, std::string& query) {
  auto add = [&](const std::string& kv) {
    query += (query.empty() ? "?" : "&") + kv;
  };
  if (o.has("cas")) {
    auto& v = o.one("cas");
    if (v.empty())
      return usage_error("--cas needs a version (as 'kv list' prints it) or "
                         "0 for create-only");
    add("cas=" + percent_encode_key(v));
  }
  if (o.has("replicas")) {
    auto& k = o.one("replicas");
    if (k.empty() || k.size() > 4
        || k.find_first_not_of("0123456789") != std::string::npos
        || std::stoul(k) == 0)
      return usage_error("--replicas must be a number of nodes >= 1 (this "
                         "one included)");
    add("replicas=" + k);
  } else if (o.has("wait")) {
    return usage_error("--wait applies with --replicas only");
  }
  if (o.has("wait")) {
    pekonode::duration d{};
    if (!pekonode::node::parse_wait(o.one("wait"), d)
        || d <= pekonode::duration::zero())
      return usage_error("--wait must look like 500ms, 10s or 1m");
    add("timeout=" + o.one("wait"));
    auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
    c.set_read_timeout(static_cast<int>(std::max<int64_t>(o.timeout_s, s + 5)));
  }
  return exit_ok;
}

int cmd_kv(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() < 2)
    return usage_error("kv needs a subcommand: list, get, put, del, watch");
  auto& sub = a[1];
  static const std::map<std::string, std::set<std::string>> sub_flags{
    {"list", {"prefix"}},
    {"get", {"recurse"}},
    {"put", {"cas", "replicas", "wait"}},
    {"del", {"strict", "cas", "replicas", "wait"}}};
  for (auto& [name, values] : o.flags) {
    auto i = sub_flags.find(sub);
    if (i == sub_flags.end() || i->second.count(name) == 0)
      return usage_error("--" + name + " does not apply to 'kv " + sub + "'");
  }
  if (sub == "list" && a.size() == 2) {
    std::string path = "/v1/kv";
    if (o.has("prefix"))
      path += "?prefix=" + percent_encode_key(o.one("prefix"));
    json j;
    std::string raw;
    if (!c.get_json(path, j, &raw))
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
  if (sub == "get" && a.size() == 3 && o.has("recurse")) {
    json j;
    std::string raw;
    if (!c.get_json("/v1/kv?recurse&prefix=" + percent_encode_key(a[2]), j,
                    &raw))
      return exit_failed;
    if (o.raw_json) {
      std::cout << raw;
      return exit_ok;
    }
    for (auto& e : j.value("keys", json::array())) {
      std::string value;
      if (!pekonode::node::base64_decode(text_of(e["value"]), value))
        return fail("node sent a value that is not base64 for key "
                    + text_of(e["key"]));
      std::cout << text_of(e["key"]) << ":";
      std::cout.write(value.data(), static_cast<std::streamsize>(value.size()));
      std::cout << "\n";
    }
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
  // ?cas=&replicas=&timeout= of a put or delete.
  std::string query;
  if (sub == "put" || sub == "del") {
    if (int rc = write_query(o, c, query); rc != exit_ok)
      return rc;
  }
  if (sub == "put" && a.size() == 4) {
    std::string value;
    if (!read_value(a[3], value))
      return fail("cannot read the value from stdin");
    json j;
    std::string raw;
    if (!c.send_json("PUT", "/v1/kv/" + percent_encode_key(a[2]) + query,
                     value, "application/octet-stream", j, &raw))
      return exit_failed;
    std::cout << (o.raw_json ? raw : text_of(j["version"]) + "\n");
    return exit_ok;
  }
  if (sub == "del" && a.size() == 3) {
    // Idempotent: deleting what is absent succeeds unless --strict.
    std::set<int> ok;
    if (!o.has("strict"))
      ok.insert(404);
    httplib::Response res;
    if (!c.call("DELETE", "/v1/kv/" + percent_encode_key(a[2]) + query, {},
                {}, res, ok))
      return exit_failed;
    if (res.status == 404) {
      std::cerr << "pekoctl: " << a[2] << " was not present\n";
      return exit_ok;
    }
    json j;
    std::string raw;
    if (!client::parse(res, j, &raw))
      return exit_failed;
    std::cout << (o.raw_json ? raw : text_of(j["version"]) + "\n");
    return exit_ok;
  }
  if (sub == "watch" && a.size() <= 3)
    return cmd_kv_watch(o, c, a.size() == 3 ? a[2] : std::string{});
  return usage_error("bad kv command; expected: kv list [--prefix=P] | "
                     "kv get KEY | kv get --recurse PREFIX | "
                     "kv put KEY VALUE|- [--cas=V] [--replicas=K] | "
                     "kv del KEY [--strict] [--cas=V] [--replicas=K] | "
                     "kv watch [PREFIX]");
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

// -- cluster -------------------------------------------------------------------------

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
  std::string wait = o.has("wait") ? o.one("wait") : "10s";
  pekonode::duration d{};
  if (!pekonode::node::parse_wait(wait, d))
    return usage_error("--wait must look like 500ms, 10s, 2m or 10");
  std::string path = "/v1/join";
  if (d > pekonode::duration::zero()) {
    path += "?wait=" + wait;
    auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
    c.set_read_timeout(static_cast<int>(std::max<int64_t>(o.timeout_s, s + 5)));
  }
  return print_action(o, c, path, dump(json{{"seeds", seeds}}));
}

int cmd_tags(const cli& o, client& c) {
  bool patch = o.has("set") || o.has("delete");
  if (o.args.size() == 1 && !patch && !o.has("clear")) {
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
  if ((patch && (o.args.size() > 1 || o.has("clear")))
      || (o.has("clear") && o.args.size() > 1))
    return usage_error("use either --set/--delete, or K=V... (replace all), "
                       "or --clear");
  json body = json::object();
  auto add = [&](const std::string& kv) -> int {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("tag " + kv + " is not KEY=VALUE");
    auto key = kv.substr(0, eq);
    if (body.contains(key))
      return usage_error("tag key " + key + " given twice");
    body[key] = kv.substr(eq + 1);
    return exit_ok;
  };
  std::string method = "PUT";
  if (patch) {
    // A JSON merge patch: strings set, nulls delete; the node merges it
    // with its current tags under one lock.
    method = "PATCH";
    if (o.has("set"))
      for (auto& kv : o.flags.at("set"))
        if (int rc = add(kv); rc != exit_ok)
          return rc;
    if (o.has("delete"))
      for (auto& k : o.flags.at("delete")) {
        if (k.empty() || body.contains(k))
          return usage_error("--delete=" + k
                             + ": empty or also set in this command");
        body[k] = nullptr;
      }
  } else {
    for (size_t i = 1; i < o.args.size(); ++i)
      if (int rc = add(o.args[i]); rc != exit_ok)
        return rc;
  }
  json j;
  std::string raw;
  if (!c.send_json(method, "/v1/tags", dump(body),
                   patch ? "application/merge-patch+json" : "application/json",
                   j, &raw))
    return exit_failed;
  std::cout << (o.raw_json ? raw : "tags: " + tags_text(j["tags"]) + "\n");
  return exit_ok;
}

int cmd_faults(const cli& o, client& c) {
  if (o.args.size() != 1)
    return usage_error("faults takes only --drop, --block, --delay and --jitter");
  json j;
  std::string raw;
  if (!o.has("drop") && !o.has("block") && !o.has("delay") && !o.has("jitter")) {
    if (!c.get_json("/v1/faults", j, &raw))
      return exit_failed;
  } else {
    json body = json::object();
    if (o.has("drop")) {
      auto& drop = o.one("drop");
      char* end = nullptr;
      double rate = std::strtod(drop.c_str(), &end);
      if (drop.empty() || *end != '\0' || !(rate >= 0.0 && rate <= 1.0))
        return usage_error("--drop must be a number in [0, 1]");
      body["drop_rate"] = rate;
    }
    for (const char* flag : {"delay", "jitter"}) {
      if (!o.has(flag))
        continue;
      auto& text = o.one(flag);
      if (text.empty() || text.size() > 5
          || text.find_first_not_of("0123456789") != std::string::npos)
        return usage_error(std::string{"--"} + flag
                           + " must be whole milliseconds in [0, 10000]");
      auto ms = std::stoul(text);
      if (ms > 10'000)
        return usage_error(std::string{"--"} + flag
                           + " must be whole milliseconds in [0, 10000]");
      body[std::string{flag} + "_ms"] = ms;
    }
    if (o.has("block")) {
      json blocked = json::array();
      for (auto& item : split_commas(o.one("block")))
        blocked.push_back(item);
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
            << "blocked:   " << (blocked.empty() ? "(none)" : blocked) << "\n"
            << "delay:     " << text_of(j.value("delay_ms", json(0))) << " ms +/- "
            << text_of(j.value("jitter_ms", json(0))) << " ms\n";
  return exit_ok;
}

// -- snapshots, force-leave -----------------------------------------------------

constexpr std::string_view snapshot_magic = "PEKOSNAP";
/// pekoctl reads at most this much of a file to restore (the node's own
/// limit, max_snapshot_bytes, is lower by default and decides).
constexpr size_t max_restore_file = size_t{1} << 30;

// Writes `data` to `path` atomically: a temp file (mode 600), fsync, rename.
std::string write_file_atomic(const std::string& path, const std::string& data) {
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return tmp + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      std::string err = tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string err = tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return err;
  }
  return {};
}

int cmd_snapshot(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() != 3 || (a[1] != "save" && a[1] != "restore"))
    return usage_error("expected: snapshot save FILE | snapshot restore FILE");
  // A full store is tens of MiB: give the node time to copy it.
  c.set_read_timeout(std::max(o.timeout_s, 120));
  if (a[1] == "save") {
    httplib::Response res;
    if (!c.call("GET", "/v1/snapshot", {}, {}, res))
      return exit_failed;
    if (res.body.compare(0, snapshot_magic.size(), snapshot_magic) != 0)
      return fail("the node's answer is not a snapshot file");
    if (auto err = write_file_atomic(a[2], res.body); !err.empty())
      return fail("cannot write the snapshot: " + err);
    std::cout << "saved " << res.body.size() << " bytes to " << a[2] << "\n";
    return exit_ok;
  }
  std::ifstream in(a[2], std::ios::binary);
  if (!in)
    return fail("cannot read " + a[2] + ": " + std::strerror(errno));
  std::string file;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    file.append(buf, static_cast<size_t>(in.gcount()));
    if (file.size() > max_restore_file)
      return fail(a[2] + " is larger than 1 GiB: not a snapshot");
  }
  json j;
  std::string raw;
  if (!c.send_json("PUT", "/v1/snapshot", file, "application/octet-stream", j,
                   &raw))
    return exit_failed;
  if (o.raw_json) {
    std::cout << raw;
    return exit_ok;
  }
  std::cout << "restored " << text_of(j["records"]) << " entries from node "
            << text_of(j["source_node"]) << ": " << text_of(j["applied"])
            << " applied (" << text_of(j["tombstones"]) << " deletes), "
            << text_of(j["stale"]) << " older than the version held\n";
  return exit_ok;
}

int cmd_force_leave(const cli& o, client& c) {
  if (o.args.size() != 2)
    return usage_error("force-leave needs one member NAME");
  return print_action(o, c, "/v1/force-leave",
                      dump(json{{"name", o.args[1]}}));
}

// -- user events and queries ---------------------------------------------------------

int cmd_event(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() < 2 || a.size() > 3)
    return usage_error("expected: event NAME [PAYLOAD|-] [--coalesce]");
  std::string payload;
  if (a.size() == 3 && !read_value(a[2], payload))
    return fail("cannot read the payload from stdin");
  std::string path = "/v1/event/" + percent_encode_key(a[1]);
  if (o.has("coalesce"))
    path += "?coalesce=1";
  json j;
  std::string raw;
  if (!c.send_json("POST", path, payload, "application/octet-stream", j, &raw))
    return exit_failed;
  if (o.raw_json)
    std::cout << raw;
  else
    std::cout << "event " << text_of(j["name"]) << " sent (id "
              << text_of(j["id"]) << ", ltime " << text_of(j["ltime"]) << ")\n";
  return exit_ok;
}

int cmd_query(const cli& o, client& c) {
  auto& a = o.args;
  if (a.size() < 2 || a.size() > 3)
    return usage_error("expected: query NAME [PAYLOAD|-] [--node=RE] "
                       "[--tag=K=RE]... [--timeout=DURATION]");
  std::string payload;
  if (a.size() == 3 && !read_value(a[2], payload))
    return fail("cannot read the payload from stdin");
  std::string params;
  auto add = [&](const std::string& k, const std::string& v) {
    params += (params.empty() ? "?" : "&") + k + "=" + percent_encode_key(v);
  };
  if (o.has("node"))
    add("node", o.one("node"));
  if (o.has("tag"))
    for (auto& t : o.flags.at("tag")) {
      auto eq = t.find('=');
      if (eq == std::string::npos || eq == 0)
        return usage_error("--tag=" + t + " is not KEY=REGEX");
      add("tag", t);
    }
  pekonode::duration d = std::chrono::seconds(3);
  if (!o.query_timeout.empty()) {
    if (!pekonode::node::parse_wait(o.query_timeout, d)
        || d <= pekonode::duration::zero())
      return usage_error("--timeout must look like 500ms, 3s or 1m");
    add("timeout", o.query_timeout);
  }
  auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  c.set_read_timeout(static_cast<int>(std::max<int64_t>(o.timeout_s, s + 5)));
  json j;
  std::string raw;
  if (!c.send_json("POST", "/v1/query/" + percent_encode_key(a[1]) + params,
                   payload, "application/octet-stream", j, &raw))
    return exit_failed;
  if (o.raw_json) {
    std::cout << raw;
    return exit_ok;
  }
  auto responses = j.value("responses", json::object());
  for (auto& n : j.value("acks", json::array())) {
    auto name = text_of(n);
    std::cout << "ack from " << name << "\n";
    if (responses.contains(name))
      std::cout << "response from " << name << ": "
                << text_of(responses[name]) << "\n";
  }
  auto stragglers = j.value("stragglers", json::array());
  for (auto& n : stragglers)
    std::cout << "no ack from " << text_of(n) << "\n";
  auto counts = j.value("counts", json::object());
  std::cout << "total acks: " << text_of(counts["acks"]) << " (expected "
            << text_of(counts["expected"]) << "), responses: "
            << text_of(counts["responses"]) << ", stragglers: "
            << text_of(counts["stragglers"]) << "\n";
  return exit_ok;
}

// Prints a cluster-wide keyring tally: each key with how many nodes hold
// it and use it as primary, then the nodes that failed or did not answer.
void print_keyring_tally(const json& j) {
  auto nodes = j.value("nodes", uint64_t{0});
  auto responded = j.value("responded", uint64_t{0});
  std::cout << "FINGERPRINT        NODES   PRIMARY ON\n";
  for (auto& k : j.value("keys", json::array())) {
    std::string held = std::to_string(k.value("nodes", uint64_t{0})) + "/"
                       + std::to_string(nodes);
    std::cout << text_of(k["fingerprint"]) << "   " << held
              << std::string(held.size() < 8 ? 8 - held.size() : 1, ' ')
              << k.value("primary_on", uint64_t{0}) << "\n";
  }
  std::cout << responded << " of " << nodes << " nodes answered";
  if (j.contains("changed"))
    std::cout << ", " << j.value("changed", uint64_t{0}) << " changed, "
              << j.value("persisted", uint64_t{0})
              << " wrote their keyring file";
  std::cout << "\n";
  const json errors = j.value("errors", json::object());
  for (auto& [node, why] : errors.items())
    std::cout << "failed on " << node << ": " << text_of(why) << "\n";
  const json missing = j.value("missing", json::array());
  for (auto& node : missing)
    std::cout << "no answer from " << text_of(node) << "\n";
}

int cmd_keyring(const cli& o, client& c) {
  auto& a = o.args;
  const bool local = o.has("local");
  const std::string path = local ? "/v1/keyring?local" : "/v1/keyring";
  std::string method = "GET";
  std::string body;
  if (a.size() == 2 && a[1] == "list") {
  } else if (a.size() == 3
             && (a[1] == "install" || a[1] == "use" || a[1] == "remove")) {
    // Keys travel in the body only; '-' reads the key from stdin so it
    // stays out of the shell's history and the process list.
    std::string key = a[2];
    if (key == "-") {
      if (!read_value("-", key))
        return fail("cannot read the key from stdin");
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
        key.pop_back();
    }
    bool remove = a[1] == "remove";
    method = remove ? "DELETE" : "POST";
    body = dump(json{{remove ? "key" : a[1], key}});
  } else {
    return usage_error("expected: keyring list | keyring install KEY | "
                       "keyring use KEY|FINGERPRINT | "
                       "keyring remove KEY|FINGERPRINT [--local]");
  }
  // A cluster-wide command that some nodes did not take answers 500 with
  // the tally: print it, and fail.
  httplib::Response res;
  if (!c.call(method, path, body, body.empty() ? "" : "application/json", res,
              local ? std::set<int>{} : std::set<int>{500}))
    return exit_failed;
  json j;
  if (!client::parse(res, j, nullptr))
    return exit_failed;
  if (res.status == 500 && !j.contains("nodes"))
    return fail(method + " " + path + ": HTTP 500: " + error_of(res));
  if (o.raw_json)
    std::cout << res.body;
  else if (local) {
    for (auto& k : j.value("keys", json::array()))
      std::cout << text_of(k["fingerprint"])
                << (k.value("primary", false) ? "  primary" : "") << "\n";
    if (j.contains("changed") && !j["changed"].get<bool>())
      std::cout << "(unchanged)\n";
  } else {
    print_keyring_tally(j);
  }
  if (res.status == 500)
    return fail(error_of(res));
  return exit_ok;
}

int cmd_version(const cli& o, client& c) {
  (void) o;
  std::cout << "pekoctl " << PEKONODE_VERSION << "\n";
  httplib::Response res;
  if (!c.call("GET", "/v1/health", {}, {}, res, {503}))
    return exit_failed;
  auto server = res.get_header_value("Server");
  std::cout << "node at " << o.addr << ": "
            << (server.empty() ? "(version not reported)" : server) << "\n";
  return exit_ok;
}

// Which command each command flag belongs to.
const std::map<std::string, std::set<std::string>>& flag_owners() {
  static const std::map<std::string, std::set<std::string>> owners{
    {"status", {"members"}},   {"name", {"members"}},
    {"tag", {"members", "query"}}, {"detailed", {"members"}},
    {"node", {"query"}},       {"coalesce", {"event"}},
    {"format", {"members"}},   {"prefix", {"kv", "monitor"}},
    {"type", {"monitor"}},     {"index", {"monitor"}},
    {"recurse", {"kv"}},       {"strict", {"kv"}},
    {"wait", {"join", "kv"}}, {"set", {"tags"}},
    {"cas", {"kv"}},           {"replicas", {"kv"}},
    {"delete", {"tags"}},      {"clear", {"tags"}},
    {"drop", {"faults"}},      {"block", {"faults"}},
    {"delay", {"faults"}},     {"jitter", {"faults"}},
    {"local", {"keyring"}},
  };
  return owners;
}

// Flags that take no value.
bool is_switch(const std::string& name) {
  return name == "detailed" || name == "recurse" || name == "strict"
         || name == "clear" || name == "coalesce" || name == "local";
}

int run(const cli& o) {
  auto addr = o.addr;
  std::string scheme = "http";
  for (auto* s : {"http://", "https://"})
    if (addr.rfind(s, 0) == 0) {
      scheme = std::string{s}.substr(0, std::string{s}.size() - 3);
      addr = addr.substr(std::string{s}.size());
    }
  pekonode::node::host_endpoint ep;
  if (auto err = pekonode::node::parse_host_endpoint(addr, ep); !err.empty())
    return usage_error("--addr: " + err);
  // Token: --token_file, else $PEKOCTL_TOKEN, else $PEKOCTL_TOKEN_FILE.
  std::string token;
  std::string warning;
  if (!o.token_file.empty()) {
    if (auto err = pekonode::node::load_token_file(o.token_file, token,
                                                   warning);
        !err.empty())
      return usage_error("--token_file: " + err);
  } else if (auto* env = std::getenv("PEKOCTL_TOKEN");
             env != nullptr && *env != 0) {
    token = env;
    if (auto err = pekonode::node::validate_token(token); !err.empty())
      return usage_error("$PEKOCTL_TOKEN: " + err);
  } else if (auto* file = std::getenv("PEKOCTL_TOKEN_FILE");
             file != nullptr && *file != 0) {
    if (auto err = pekonode::node::load_token_file(file, token, warning);
        !err.empty())
      return usage_error("$PEKOCTL_TOKEN_FILE: " + err);
  }
  client c{o, scheme + "://" + ep.to_string(), token};
  auto& a = o.args;
  auto& cmd = a[0];
  auto no_args = [&] { return a.size() == 1; };
  if (cmd == "members" && no_args())
    return cmd_members(o, c);
  if (cmd == "self" && no_args())
    return cmd_self(o, c);
  if ((cmd == "health" || cmd == "ready") && no_args()) {
    httplib::Response res;
    if (!c.call("GET", cmd == "health" ? "/v1/health" : "/v1/health/ready",
                {}, {}, res))
      return exit_failed;
    std::cout << (o.raw_json ? res.body : "ok\n");
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
  if (cmd == "snapshot")
    return cmd_snapshot(o, c);
  if (cmd == "force-leave")
    return cmd_force_leave(o, c);
  if (cmd == "faults")
    return cmd_faults(o, c);
  if (cmd == "keyring")
    return cmd_keyring(o, c);
  if (cmd == "metrics" && no_args()) {
    httplib::Response res;
    if (!c.call("GET", "/metrics", {}, {}, res))
      return exit_failed;
    std::cout << res.body;
    return exit_ok;
  }
  if (cmd == "version" && no_args())
    return cmd_version(o, c);
  if (cmd == "monitor" && no_args())
    return cmd_monitor(o, c);
  if (cmd == "event")
    return cmd_event(o, c);
  if (cmd == "query")
    return cmd_query(o, c);
  return usage_error("unknown command or wrong arguments: " + cmd);
}

} // namespace

int main(int argc, char** argv) {
  cli o;
  if (auto* env = std::getenv("PEKOCTL_ADDR"); env != nullptr && *env != 0)
    o.addr = env;
  bool flags_done = false;
  std::string timeout_raw;
  bool has_timeout = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      o.args.push_back(std::move(arg));
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return exit_ok;
    }
    if (arg == "--version") {
      std::cout << "pekoctl " << PEKONODE_VERSION << "\n";
      return exit_ok;
    }
    if (arg.rfind("--", 0) != 0)
      return usage_error("unknown flag " + arg
                         + " (put '--' before values starting with '-')");
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == std::string::npos ? std::string::npos
                                                      : eq - 2);
    bool has_value = eq != std::string::npos;
    auto value = has_value ? arg.substr(eq + 1) : std::string{};
    // "--flag value" as well as "--flag=value" for flags that take one.
    static const std::set<std::string> global_valued{"addr", "token_file",
                                                     "ca_file", "timeout"};
    bool takes_value = global_valued.count(name) != 0
                       || (flag_owners().count(name) != 0 && !is_switch(name));
    if (!has_value && takes_value && i + 1 < argc) {
      value = argv[++i];
      has_value = true;
    }
    if (name == "json" && !has_value) {
      o.raw_json = true;
    } else if (name == "addr" && has_value) {
      o.addr = value;
    } else if (name == "token_file" && has_value) {
      o.token_file = value;
    } else if (name == "ca_file" && has_value) {
      o.ca_file = value;
    } else if (name == "timeout" && has_value) {
      timeout_raw = value; // checked once the command is known
      has_timeout = true;
    } else if (flag_owners().count(name) != 0
               && has_value != is_switch(name)) {
      o.flags[name].push_back(value);
    } else if (flag_owners().count(name) != 0) {
      return usage_error("--" + name
                         + (is_switch(name) ? " takes no value"
                                            : " needs a value (--" + name
                                                + "=...)"));
    } else {
      return usage_error("unknown flag " + arg
                         + " (put '--' before values starting with '-')");
    }
  }
  if (has_timeout && !o.args.empty() && o.args[0] == "query") {
    o.query_timeout = timeout_raw;
  } else if (has_timeout) {
    char* end = nullptr;
    long t = std::strtol(timeout_raw.c_str(), &end, 10);
    if (timeout_raw.empty() || *end != '\0' || t < 1 || t > 3600)
      return usage_error("--timeout must be 1..3600 seconds");
    o.timeout_s = static_cast<int>(t);
  }
  if (!o.args.empty() && o.args[0] == "help") {
    std::cout << usage_text;
    return exit_ok;
  }
  if (o.args.empty()) {
    std::cerr << usage_text;
    return exit_usage;
  }
  for (auto& [name, values] : o.flags)
    if (flag_owners().at(name).count(o.args[0]) == 0)
      return usage_error("--" + name + " does not apply to '" + o.args[0]
                         + "'");
  if (o.args[0] == "keygen") {
    // Local: a fresh key for --keyring_file; no node is contacted.
    if (o.args.size() != 1)
      return usage_error("keygen takes no arguments");
    if (!pekonode::transport::crypto_init())
      return fail("libsodium cannot be initialised");
    auto key = pekonode::transport::random_key();
    std::cout << pekonode::transport::key_to_base64(key) << "\n";
    std::fill(key.begin(), key.end(), 0);
    return exit_ok;
  }
  return run(o);
}
