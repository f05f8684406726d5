#pragma once
// Cluster-wide keyring commands: one internal query (`keyring_query`)
// carries a keyring command (list, install, use, remove) to every live
// member; each runs it on its own transport (`tx_keyring_atom`, which also
// rewrites its --keyring_file) and answers with its keys by fingerprint,
// and the querier tallies how many nodes hold each key, as Serf's
// `serf keys` does. The query travels like any query, so encrypted with
// the primary key of the cluster (a plaintext node refuses every keyring
// command); it never reaches event subscribers, handlers or logs.
//
// The codec and the tally are pure; `keyring_responder` is the actor each
// node registers with its user-event actor (node::spawn_node does).

#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "node/admin_backend.h"
#include "transport/transport.h"
#include "userevents/types.h"
#include "userevents/userevents_actor.h"

namespace pekonode::node {

/// The reserved query name of cluster-wide keyring commands.
inline constexpr std::string_view keyring_query = "_pekonode-keyring";

/// The query payload for `op` (list, install, use or remove; `key` empty
/// for list). reload is per node (SIGHUP) and has no payload: "".
std::string encode_keyring_command(keyring_op op, const std::string& key);

/// Parses a payload of encode_keyring_command into a transport request;
/// false (with `why`) for anything else.
bool decode_keyring_command(std::string_view payload,
                            transport::keyring_request& out, std::string& why);

/// A node's answer: its keys after the command, or the reason it failed.
/// Always fits a query response (userevents::max_response_bytes).
std::string encode_keyring_answer(const transport::keyring_reply& reply);
std::string encode_keyring_failure(std::string_view reason);

/// Adds one node's answer to the tally (a malformed one counts as that
/// node's error).
void tally_keyring_answer(const std::string& node, std::string_view answer,
                          cluster_keyring_view& out);

/// The tally of a finished keyring query.
cluster_keyring_view tally_keyring_query(const userevents::query_result& r);

/// The answerer of keyring queries on one node: runs the command on
/// `transport` and answers with encode_keyring_answer, or with the reason
/// it failed.
userevents::query_responder_actor::behavior_type
keyring_responder(userevents::query_responder_actor::pointer self,
                  transport::transport_actor transport);

} // namespace pekonode::node
