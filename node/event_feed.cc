#include "node/event_feed.h"

#include <caf/all.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "common/caf_compat.h"

namespace pekonode::node {

const char* event_type_of(membership::event::kind_t kind) {
  using k = membership::event;
  switch (kind) {
    case k::joined: return event_types::member_join;
    case k::suspect: return event_types::member_suspect;
    case k::alive: return event_types::member_alive;
    case k::dead: return event_types::member_dead;
    case k::left: return event_types::member_left;
    case k::updated: return event_types::member_update;
    case k::name_conflict: return event_types::member_conflict;
  }
  return event_types::member_update;
}

nlohmann::json member_payload(const membership::member& m) {
  return nlohmann::json{{"name", m.name},
                        {"addr", m.addr},
                        {"state", membership::to_string(m.state)},
                        {"incarnation", m.incarnation},
                        {"tags", m.tags.to_map()}};
}

nlohmann::json key_payload(const metadata::kv_change& c) {
  return nlohmann::json{{"key", c.key},
                        {"version", metadata::to_string(c.ver)},
                        {"origin", c.ver.origin},
                        {"size", c.size},
                        {"local", c.local}};
}

namespace {

using feed_actor = membership::member_listener_actor::extend_with<
  metadata::key_listener_actor>;

feed_actor::behavior_type feed_behavior(feed_actor::pointer, event_log* log) {
  return {
    [log](membership::m_event_atom, const membership::event& ev) {
      log->append(event_type_of(ev.kind), ev.m.name, member_payload(ev.m));
    },
    [log](metadata::md_event_atom, const metadata::kv_change& c) {
      log->append(c.deleted ? event_types::key_delete : event_types::key_put,
                  c.key, key_payload(c));
    },
  };
}

using user_feed_actor = userevents::event_listener_actor;

user_feed_actor::behavior_type user_feed_behavior(user_feed_actor::pointer,
                                                  event_log* log) {
  return {
    [log](userevents::ue_deliver_atom, const userevents::user_event& ev) {
      log->append(ev.kind == userevents::event_kind::query
                    ? event_types::query
                    : event_types::user,
                  ev.name, user_event_payload(ev));
    },
  };
}

// What the handlers of one query produced; shared with the runner's
// threads, which may finish after the worker stopped waiting.
struct answer_state {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<handler_result> results;
};

// Answers one query on its own thread (blocking on the handlers), then
// quits; `inflight` counts the workers alive.
userevents::query_responder_actor::behavior_type
answer_worker(userevents::query_responder_actor::pointer self,
              handler_runner* runner, std::shared_ptr<std::atomic<int>> inflight) {
  return {
    [=](userevents::ue_answer_atom,
        const userevents::user_event& ev) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      event_record rec;
      rec.type = event_types::query;
      rec.subject = ev.name;
      rec.payload = user_event_payload(ev);
      auto st = std::make_shared<answer_state>();
      size_t queued = runner->run(rec, [st](const handler_result& r) {
        std::lock_guard<std::mutex> guard{st->mu};
        st->results.push_back(r);
        st->cv.notify_all();
      });
      std::string answer;
      bool found = false;
      if (queued > 0) {
        auto wait = std::chrono::milliseconds{
          ev.timeout_ms > 0 ? ev.timeout_ms : 3000};
        std::unique_lock<std::mutex> lock{st->mu};
        auto first_ok = [&] {
          for (auto& r : st->results)
            if (r.ok())
              return &r;
          return static_cast<handler_result*>(nullptr);
        };
        st->cv.wait_for(lock, wait, [&] {
          return first_ok() != nullptr || st->results.size() >= queued;
        });
        if (auto* r = first_ok()) {
          answer = r->out.substr(0, userevents::max_response_bytes);
          found = true;
        }
      }
      if (found)
        rp.deliver(std::move(answer));
      else
        rp.deliver(caf::make_error(caf::sec::invalid_argument,
                                   "no query handler answered"));
      --*inflight;
      self->quit();
      return rp;
    },
  };
}

userevents::query_responder_actor::behavior_type
responder_behavior(userevents::query_responder_actor::pointer self,
                   handler_runner* runner) {
  auto inflight = std::make_shared<std::atomic<int>>(0);
  return {
    [=](userevents::ue_answer_atom,
        const userevents::user_event& ev) -> caf::result<std::string> {
      if (inflight->fetch_add(1) >= max_query_answers) {
        --*inflight;
        return caf::make_error(caf::sec::request_timeout,
                               "too many query answers running");
      }
      auto worker = self->spawn<caf::detached>(answer_worker, runner,
                                               inflight);
      return self->delegate(worker, userevents::ue_answer_atom_v, ev);
    },
  };
}

} // namespace

nlohmann::json user_event_payload(const userevents::user_event& ev) {
  return nlohmann::json{{"name", ev.name},
                        {"payload", ev.payload},
                        {"origin", ev.origin},
                        {"id", userevents::id_text(ev.id)},
                        {"ltime", ev.ltime},
                        {"coalesce", ev.coalesce}};
}

void attach_user_events(caf::actor_system& sys, const node_handle& node,
                        event_log& log, handler_runner& runner) {
  if (!node.userevents)
    return;
  auto feed = sys.spawn(user_feed_behavior, &log);
  compat::link(node.userevents, feed);
  caf::anon_send(node.userevents, userevents::ue_sub_atom_v, feed);
  auto responder = sys.spawn(responder_behavior, &runner);
  compat::link(node.userevents, responder);
  caf::anon_send(node.userevents, userevents::ue_resp_atom_v, responder);
}

void attach_event_feed(caf::actor_system& sys, const node_handle& node,
                       event_log& log) {
  auto feed = sys.spawn(feed_behavior, &log);
  compat::link(node.membership, feed);
  caf::anon_send(node.membership, membership::m_sub_atom_v,
                 caf::actor_cast<membership::member_listener_actor>(feed));
  caf::anon_send(node.metadata, metadata::md_sub_atom_v,
                 caf::actor_cast<metadata::key_listener_actor>(feed));
}

} // namespace pekonode::node
