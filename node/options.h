#pragma once
// Parsing and validation of the pekonode binary's flag values (pure: no
// sockets, no DNS, no gflags). Each parser returns an empty string on success
// or a one-line reason naming the flag; main() prints it and exits non-zero.

#include <cstdint>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pekonode::node {

/// A numeric IP endpoint ("--bind", "--advertise", "--admin").
struct ip_endpoint {
  std::string ip;      ///< canonical numeric form, without brackets
  uint16_t port = 0;
  bool ipv6 = false;

  /// Canonical "ip:port" or "[ip]:port" (the form of pekonode::address).
  std::string to_string() const;
  /// True for 0.0.0.0 and ::.
  bool unspecified() const;
};

/// A seed for --join: a DNS name or numeric IP, resolved later by the node.
struct host_endpoint {
  std::string host;    ///< DNS name or numeric IP, without brackets
  uint16_t port = 0;
  /// "dns:NAME[:PORT]": discovery, every address of NAME, looked up again
  /// periodically (the membership actor's dns_refresh).
  bool discovery = false;

  /// "host:port" or "[v6]:port"; "dns:host:port" for discovery.
  std::string to_string() const;
};

/// Port of a "dns:NAME" seed given without one.
constexpr uint16_t default_gossip_port = 7946;

/// Parses a duration such as "500ms", "30s", "2m" or "1h" (a number and a
/// unit; no unit: seconds) into `out` within [min, max]; the error names
/// the bounds.
std::string parse_duration(std::string_view text,
                           std::chrono::milliseconds min,
                           std::chrono::milliseconds max,
                           std::chrono::milliseconds& out);

/// Timing profile (see the membership config): lan by default.
enum class profile { lan, local, wan };

/// Limits on names and tags. Tags are gossiped in every alive message, so they
/// are kept small.
constexpr size_t max_name_bytes = 128;
constexpr size_t max_tags = 32;
constexpr size_t max_tag_key_bytes = 64;
constexpr size_t max_tag_value_bytes = 2048;
constexpr size_t max_tags_total_bytes = 4096;  // sum of keys and values; = membership::config::max_tags_bytes
constexpr size_t max_label_bytes = 255;
constexpr size_t max_join_seeds = 64;

/// Flag values exactly as given on the command line.
struct raw_flags {
  std::string name;
  std::string bind = "0.0.0.0:7946";
  std::string advertise;
  std::string join;
  std::string tags;
  std::string profile = "lan";
  std::string admin;
  std::string keyring_file;
  std::string label;
  bool fault_injection = false;
};

/// Validated flags.
struct node_options {
  std::string name;
  ip_endpoint bind;
  std::optional<ip_endpoint> advertise;
  std::vector<host_endpoint> join;
  std::map<std::string, std::string> tags;
  node::profile profile = node::profile::lan;
  std::optional<ip_endpoint> admin;
  std::string keyring_file;
  std::string label;
  bool fault_injection = false;
};

/// Parses "IP:PORT" / "[IPv6]:PORT" with a numeric address. Port 0 is allowed
/// only when `allow_port_zero` (binding picks a free port).
std::string parse_ip_endpoint(std::string_view text, bool allow_port_zero,
                              ip_endpoint& out);

/// Parses "host:port" where host is a DNS name (RFC 1123 labels), an IPv4
/// address or a bracketed IPv6 address; port 1..65535.
std::string parse_host_endpoint(std::string_view text, host_endpoint& out);

/// Parses "host:port,host:port,..." (empty = no seeds; duplicates removed,
/// order kept; at most max_join_seeds).
std::string parse_join(std::string_view text, std::vector<host_endpoint>& out);

/// Parses "k=v,k2=v2". Escaping: a backslash makes the next character literal,
/// so "\," "\=" and "\\" put a comma, an equals sign or a backslash into a key
/// or value ("role=a\,b" is role -> "a,b"). Empty input = no tags. Keys must
/// be non-empty; duplicate keys are an error. Limits: see validate_tags.
std::string parse_tags(std::string_view text,
                       std::map<std::string, std::string>& out);

/// Checks tag limits: count, key/value sizes, total size, well-formed UTF-8
/// without control characters (tags travel in protobuf string fields, which
/// peers reject when ill-formed). Shared by --tags and PUT /v1/tags.
std::string validate_tags(const std::map<std::string, std::string>& tags);

/// Node names: non-empty, at most max_name_bytes, visible ASCII only
/// (0x21..0x7e: no spaces or control characters; names appear in logs,
/// tables and metric labels).
std::string validate_name(std::string_view name);

/// Parses "lan", "local" or "wan".
std::string parse_profile(std::string_view text, profile& out);

/// Text form of a profile.
const char* to_string(profile p);

/// Validates all flags together; on success fills `out`.
std::string parse_options(const raw_flags& in, node_options& out);

} // namespace pekonode::node
