#include "node/cluster_keyring.h"

#include <caf/all.hpp>

#include <algorithm>
#include <map>

#include "common/text.h"
#include "node/node.h"
#include "transport/keyring_ops.h"

namespace pekonode::node {

namespace {

// Payload: the action's name, a newline, the key or fingerprint (install,
// use, remove). Answer: "ok C P" (changed, persisted: 0 or 1) and one line
// per key, "FINGERPRINT" or "FINGERPRINT primary", primary first; or
// "error" and one line of reason.
constexpr std::string_view ok_head = "ok ";
constexpr std::string_view error_head = "error\n";

// Longest reason an answer carries (the answer must fit a response).
constexpr size_t max_reason = 512;

const char* action_name(keyring_op op) {
  switch (op) {
    case keyring_op::list: return "list";
    case keyring_op::install: return "install";
    case keyring_op::use: return "use";
    case keyring_op::remove: return "remove";
    case keyring_op::reload: return "";
  }
  return "";
}

std::vector<std::string_view> lines_of(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos)
      break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

bool fingerprint_text(std::string_view s) {
  if (s.size() != transport::fingerprint_chars)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

} // namespace

std::string encode_keyring_command(keyring_op op, const std::string& key) {
  std::string name = action_name(op);
  if (name.empty())
    return {};
  if (op == keyring_op::list)
    return name;
  return name + "\n" + key;
}

bool decode_keyring_command(std::string_view payload,
                            transport::keyring_request& out,
                            std::string& why) {
  using transport::keyring_action;
  auto nl = payload.find('\n');
  auto action = payload.substr(0, nl);
  std::string_view key =
    nl == std::string_view::npos ? std::string_view{} : payload.substr(nl + 1);
  keyring_action a;
  if (action == "list")
    a = keyring_action::list;
  else if (action == "install")
    a = keyring_action::install;
  else if (action == "use")
    a = keyring_action::use;
  else if (action == "remove")
    a = keyring_action::remove;
  else {
    why = "unknown keyring command " + escape(std::string{action}, 32);
    return false;
  }
  if ((a == keyring_action::list) != (nl == std::string_view::npos)) {
    why = a == keyring_action::list ? "list takes no key"
                                    : "the command names no key";
    return false;
  }
  out.action = static_cast<uint8_t>(a);
  out.key = std::string{key};
  return true;
}

std::string encode_keyring_answer(const transport::keyring_reply& reply) {
  std::string s{ok_head};
  s += reply.changed ? '1' : '0';
  s += ' ';
  s += reply.persisted ? '1' : '0';
  for (auto& k : reply.keys) {
    s += '\n';
    s += k.fingerprint;
    if (k.primary)
      s += " primary";
  }
  return s;
}

std::string encode_keyring_failure(std::string_view reason) {
  std::string r{reason.substr(0, max_reason)};
  std::replace(r.begin(), r.end(), '\n', ' ');
  return std::string{error_head} + r;
}

void tally_keyring_answer(const std::string& node, std::string_view answer,
                          cluster_keyring_view& out) {
  out.responded++;
  if (answer.substr(0, error_head.size()) == error_head) {
    out.errors[node] = escape(std::string{answer.substr(error_head.size())},
                              max_reason);
    return;
  }
  auto lines = lines_of(answer);
  auto bad = [&] { out.errors[node] = "malformed keyring answer"; };
  if (lines.empty() || lines[0].size() != ok_head.size() + 3
      || lines[0].substr(0, ok_head.size()) != ok_head) {
    bad();
    return;
  }
  char changed = lines[0][ok_head.size()];
  char persisted = lines[0][ok_head.size() + 2];
  if ((changed != '0' && changed != '1') || (persisted != '0' && persisted != '1')
      || lines.size() - 1 > transport::max_keyring_keys) {
    bad();
    return;
  }
  std::vector<std::pair<std::string_view, bool>> keys;
  for (size_t i = 1; i < lines.size(); ++i) {
    auto l = lines[i];
    bool primary = false;
    constexpr std::string_view mark = " primary";
    if (l.size() > mark.size() && l.substr(l.size() - mark.size()) == mark) {
      primary = true;
      l.remove_suffix(mark.size());
    }
    if (!fingerprint_text(l)) {
      bad();
      return;
    }
    keys.emplace_back(l, primary);
  }
  out.changed += changed == '1';
  out.persisted += persisted == '1';
  for (auto& [fp, primary] : keys) {
    auto i = std::find_if(out.keys.begin(), out.keys.end(),
                          [&](auto& k) { return k.fingerprint == fp; });
    if (i == out.keys.end()) {
      out.keys.push_back(cluster_keyring_view::key_count{std::string{fp}});
      i = std::prev(out.keys.end());
    }
    i->nodes++;
    i->primary += primary;
  }
}

cluster_keyring_view tally_keyring_query(const userevents::query_result& r) {
  cluster_keyring_view out;
  out.expected = r.expected;
  for (auto& [node, answer] : r.responses)
    tally_keyring_answer(node, answer, out);
  // Expected nodes that acked but sent no answer, and those that did not
  // ack at all, are both missing: neither said what it holds.
  for (auto& n : r.acks)
    if (r.responses.count(n) == 0)
      out.missing.push_back(n);
  for (auto& n : r.stragglers)
    if (r.responses.count(n) == 0
        && std::find(out.missing.begin(), out.missing.end(), n)
             == out.missing.end())
      out.missing.push_back(n);
  std::sort(out.missing.begin(), out.missing.end());
  std::stable_sort(out.keys.begin(), out.keys.end(), [](auto& a, auto& b) {
    if (a.nodes != b.nodes)
      return a.nodes > b.nodes;
    return a.fingerprint < b.fingerprint;
  });
  return out;
}

userevents::query_responder_actor::behavior_type
keyring_responder(userevents::query_responder_actor::pointer self,
                  transport::transport_actor transport) {
  return {
    [=](userevents::ue_answer_atom,
        const userevents::user_event& ev) -> caf::result<std::string> {
      transport::keyring_request req;
      std::string why;
      if (!decode_keyring_command(ev.payload, req, why))
        return encode_keyring_failure(why);
      auto rp = self->make_response_promise<std::string>();
      self->request(transport, caf::infinite, transport::tx_keyring_atom_v,
                    std::move(req))
        .then(
          [rp](transport::keyring_reply& r) mutable {
            rp.deliver(encode_keyring_answer(r));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(encode_keyring_failure(describe(err)));
          });
      return rp;
    },
  };
}

} // namespace pekonode::node
