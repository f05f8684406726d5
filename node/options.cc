#include "node/options.h"

#include <arpa/inet.h>

#include <set>

#include "common/host_port.h"
#include "common/text.h"

namespace pekonode::node {

using pekonode::parse_port;
using pekonode::printable;
using pekonode::quote;

namespace {

// Canonical numeric form of an IP, or empty if `host` is not one.
std::string canonical_ip(std::string_view host, bool v6) {
  std::string h{host};
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN];
  int af = v6 ? AF_INET6 : AF_INET;
  if (inet_pton(af, h.c_str(), buf) != 1)
    return {};
  if (inet_ntop(af, buf, text, sizeof(text)) == nullptr)
    return {};
  return text;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253)
    return false;
  if (name.back() == '.')
    name.remove_suffix(1);  // fully qualified form
  size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    auto label = name.substr(start, dot == std::string_view::npos
                                        ? std::string_view::npos
                                        : dot - start);
    if (label.empty() || label.size() > 63)
      return false;
    if (label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok)
        return false;
    }
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return true;
}

// Well-formed UTF-8 as protobuf checks it on parse: no overlong forms, no
// surrogates, nothing above U+10FFFF. Tags travel in proto3 `string` fields
// of every membership packet; one ill-formed byte makes every packet that
// carries them unparseable for the peers.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < len)
      return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

} // namespace

std::string ip_endpoint::to_string() const {
  auto p = std::to_string(port);
  return ipv6 ? "[" + ip + "]:" + p : ip + ":" + p;
}

bool ip_endpoint::unspecified() const {
  return ip == "0.0.0.0" || ip == "::";
}

std::string host_endpoint::to_string() const {
  auto p = std::to_string(port);
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + p;
  return (discovery ? "dns:" : "") + host + ":" + p;
}

std::string parse_ip_endpoint(std::string_view text, bool allow_port_zero,
                              ip_endpoint& out) {
  host_port_text parts;
  if (auto err = split_host_port(text, parts); !err.empty())
    return err;
  auto host = parts.host;
  auto port = parts.port;
  bool bracketed = parts.bracketed;
  ip_endpoint result;
  result.ipv6 = bracketed;
  result.ip = canonical_ip(host, bracketed);
  if (result.ip.empty())
    return quote(host) + " is not a numeric " +
           (bracketed ? std::string{"IPv6"} : std::string{"IPv4"}) +
           " address";
  if (auto err = parse_port(port, allow_port_zero, result.port); !err.empty())
    return err;
  out = std::move(result);
  return {};
}

std::string parse_host_endpoint(std::string_view text, host_endpoint& out) {
  host_port_text parts;
  if (auto err = split_host_port(text, parts); !err.empty())
    return err;
  auto host = parts.host;
  auto port = parts.port;
  bool bracketed = parts.bracketed;
  host_endpoint result;
  if (bracketed) {
    result.host = canonical_ip(host, true);
    if (result.host.empty())
      return quote(host) + " is not a numeric IPv6 address";
  } else if (auto ip = canonical_ip(host, false); !ip.empty()) {
    result.host = ip;
  } else if (valid_dns_name(host)) {
    result.host = std::string{host};
  } else {
    return quote(host) + " is neither an IP address nor a valid DNS name";
  }
  if (auto err = parse_port(port, false, result.port); !err.empty())
    return err;
  out = std::move(result);
  return {};
}

std::string parse_duration(std::string_view text,
                           std::chrono::milliseconds min,
                           std::chrono::milliseconds max,
                           std::chrono::milliseconds& out) {
  auto bounds = [&] {
    return " (from " + std::to_string(min.count()) + "ms to "
           + std::to_string(max.count() / 1000) + "s)";
  };
  size_t digits = 0;
  while (digits < text.size() && digits < 10 && text[digits] >= '0'
         && text[digits] <= '9')
    ++digits;
  if (digits == 0 || (digits < text.size() && text[digits] >= '0'
                      && text[digits] <= '9'))
    return quote(text, 32) + " is not a duration like 500ms, 30s, 2m or 1h";
  uint64_t n = std::stoull(std::string{text.substr(0, digits)});
  auto unit = text.substr(digits);
  uint64_t ms = 0;
  if (unit == "ms")
    ms = n;
  else if (unit.empty() || unit == "s")
    ms = n * 1000;
  else if (unit == "m")
    ms = n * 60'000;
  else if (unit == "h")
    ms = n * 3'600'000;
  else
    return quote(text, 32) + " has an unknown unit (use ms, s, m or h)";
  if (ms < static_cast<uint64_t>(min.count())
      || ms > static_cast<uint64_t>(max.count()))
    return quote(text, 32) + " is out of range" + bounds();
  out = std::chrono::milliseconds{ms};
  return {};
}

std::string parse_join(std::string_view text,
                       std::vector<host_endpoint>& out) {
  std::vector<host_endpoint> result;
  std::set<std::string> seen;
  size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string_view::npos
                                       ? std::string_view::npos
                                       : comma - start);
    start = comma == std::string_view::npos ? text.size() : comma + 1;
    if (item.empty())
      return "empty seed in list (stray ',')";
    host_endpoint ep;
    if (item.substr(0, 4) == "dns:") {
      auto name = item.substr(4);
      std::string with_port{name};
      if (name.find(':') == std::string_view::npos)
        with_port += ":" + std::to_string(default_gossip_port);
      if (auto err = parse_host_endpoint(with_port, ep); !err.empty())
        return "seed " + quote(item) + ": " + err;
      if (!canonical_ip(ep.host, true).empty()
          || !canonical_ip(ep.host, false).empty())
        return "seed " + quote(item) + ": dns: needs a DNS name, not an IP "
               "address (give the address without dns:)";
      ep.discovery = true;
    } else if (auto err = parse_host_endpoint(item, ep); !err.empty()) {
      return "seed " + quote(item) + ": " + err;
    }
    if (seen.insert(ep.to_string()).second)
      result.push_back(std::move(ep));
    if (result.size() > max_join_seeds)
      return "too many seeds (max " + std::to_string(max_join_seeds) + ")";
  }
  if (!text.empty() && text.back() == ',')
    return "empty seed in list (stray ',')";
  out = std::move(result);
  return {};
}

std::string parse_tags(std::string_view text,
                       std::map<std::string, std::string>& out) {
  std::map<std::string, std::string> result;
  if (text.empty()) {
    out.clear();
    return {};
  }
  std::string key;
  std::string value;
  bool in_value = false;
  size_t pair_no = 1;
  auto finish = [&]() -> std::string {
    if (!in_value)
      return "tag " + std::to_string(pair_no) + " (" + quote(key) +
             ") has no '=VALUE'";
    if (key.empty())
      return "tag " + std::to_string(pair_no) + " has an empty key";
    if (result.count(key) != 0)
      return "duplicate tag key " + quote(key);
    result.emplace(std::move(key), std::move(value));
    key.clear();
    value.clear();
    in_value = false;
    ++pair_no;
    return {};
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size())
        return "dangling '\\' at the end of the tags";
      c = text[++i];
      (in_value ? value : key) += c;
      continue;
    }
    if (c == ',') {
      if (auto err = finish(); !err.empty())
        return err;
    } else if (c == '=' && !in_value) {
      in_value = true;
    } else if (c == '=') {
      return "unescaped '=' in the value of tag " + quote(key) +
             " (write \\=)";
    } else {
      (in_value ? value : key) += c;
    }
  }
  if (auto err = finish(); !err.empty())
    return err;
  if (auto err = validate_tags(result); !err.empty())
    return err;
  out = std::move(result);
  return {};
}

std::string validate_tags(const std::map<std::string, std::string>& tags) {
  if (tags.size() > max_tags)
    return "too many tags: " + std::to_string(tags.size()) + " (max " +
           std::to_string(max_tags) + ")";
  size_t total = 0;
  for (auto& [k, v] : tags) {
    if (k.empty())
      return "empty tag key";
    if (k.size() > max_tag_key_bytes)
      return "tag key " + quote(k.substr(0, 16)) + "... longer than " +
             std::to_string(max_tag_key_bytes) + " bytes";
    if (v.size() > max_tag_value_bytes)
      return "value of tag " + quote(k) + " longer than " +
             std::to_string(max_tag_value_bytes) + " bytes";
    if (!printable(k) || !printable(v))
      return "tag " + quote(k) + " contains control characters";
    if (!valid_utf8(k) || !valid_utf8(v))
      return "tag " + quote(k) + " is not valid UTF-8";
    total += k.size() + v.size();
  }
  if (total > max_tags_total_bytes)
    return "tags total " + std::to_string(total) + " bytes (max " +
           std::to_string(max_tags_total_bytes) + ")";
  return {};
}

std::string validate_name(std::string_view name) {
  if (name.empty())
    return "must not be empty";
  if (name.size() > max_name_bytes)
    return "longer than " + std::to_string(max_name_bytes) + " bytes";
  for (unsigned char c : name)
    if (c < 0x21 || c > 0x7e)
      return "only visible ASCII characters are allowed (no spaces), got " +
             quote(name);
  return {};
}

std::string parse_profile(std::string_view text, profile& out) {
  if (text == "lan")
    out = profile::lan;
  else if (text == "local")
    out = profile::local;
  else if (text == "wan")
    out = profile::wan;
  else
    return quote(text) + " is not one of lan, local, wan";
  return {};
}

const char* to_string(profile p) {
  switch (p) {
    case profile::lan:
      return "lan";
    case profile::local:
      return "local";
    case profile::wan:
      return "wan";
  }
  return "lan";
}

std::string parse_options(const raw_flags& in, node_options& out) {
  node_options result;
  if (auto err = validate_name(in.name); !err.empty())
    return "--name: " + err;
  result.name = in.name;
  if (auto err = parse_ip_endpoint(in.bind, true, result.bind); !err.empty())
    return "--bind: " + err;
  if (!in.advertise.empty()) {
    ip_endpoint adv;
    if (auto err = parse_ip_endpoint(in.advertise, false, adv); !err.empty())
      return "--advertise: " + err;
    if (adv.unspecified())
      return "--advertise: " + adv.ip +
             " is not reachable by peers; give the node's real address";
    result.advertise = adv;
  }
  if (auto err = parse_join(in.join, result.join); !err.empty())
    return "--join: " + err;
  if (auto err = parse_tags(in.tags, result.tags); !err.empty())
    return "--tags: " + err;
  if (auto err = parse_profile(in.profile, result.profile); !err.empty())
    return "--profile: " + err;
  if (!in.admin.empty()) {
    ip_endpoint adm;
    if (auto err = parse_ip_endpoint(in.admin, true, adm); !err.empty())
      return "--admin: " + err;
    result.admin = adm;
  }
  if (in.label.size() > max_label_bytes)
    return "--label: longer than " + std::to_string(max_label_bytes) +
           " bytes";
  if (!printable(in.label))
    return "--label: contains control characters";
  result.label = in.label;
  result.keyring_file = in.keyring_file;
  result.fault_injection = in.fault_injection;
  out = std::move(result);
  return {};
}

} // namespace pekonode::node
