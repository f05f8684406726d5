// An application that runs a pekonode node inside its own CAF actor system:
// it joins a cluster through a seed, reacts to typed member and key events,
// writes one key once another member is alive, and leaves once its write
// has been applied. Exit code 0 when all of that happened within a minute.
//
//   embed_example SEED_HOST:PORT [NAME]

#include <caf/all.hpp>
#include <glog/logging.h>

#include <future>
#include <iostream>
#include <memory>
#include <thread>

#include "node/init.h"
#include "node/node.h"

using namespace pekonode;
using namespace std::chrono_literals;

// The application's actor hears member events and key changes, both typed.
using app_actor = membership::member_listener_actor::extend_with<
  metadata::key_listener_actor>;

app_actor::behavior_type app(app_actor::pointer self, node::node_handle node,
                             std::string name,
                             std::shared_ptr<std::promise<bool>> done) {
  auto finished = std::make_shared<bool>(false);
  auto finish = [self, done, finished](bool ok) {
    if (*finished)
      return;
    *finished = true;
    done->set_value(ok);
    self->quit();
  };
  // The node's actors live and die together: watching one of them is enough.
  self->monitor(node.membership);
  self->set_down_handler([finish](const caf::down_msg&) { finish(false); });
  self->send(node.membership, membership::m_sub_atom_v,
             caf::actor_cast<membership::member_listener_actor>(self));
  self->send(node.metadata, metadata::md_sub_atom_v,
             caf::actor_cast<metadata::key_listener_actor>(self));
  auto key = "embed-" + name;
  auto wrote = std::make_shared<bool>(false);
  return {
    [=](membership::m_event_atom, const membership::event& ev) {
      std::cout << "member " << ev.m.name << " at " << ev.m.addr << ": "
                << membership::to_string(ev.kind) << std::endl;
      if (*wrote || ev.m.name == name
          || ev.m.state != membership::member_state::alive)
        return;
      *wrote = true; // someone else is alive: write the key
      self->request(node.metadata, 5s, metadata::md_put_atom_v, key,
                    "hello from " + name)
        .then([](const metadata::version& v) {
                std::cout << "put accepted at " << metadata::to_string(v)
                          << std::endl;
              },
              [=](caf::error& err) {
                std::cout << "put failed: " << node::describe(err) << std::endl;
                finish(false);
              });
    },
    [=](metadata::md_event_atom, const metadata::kv_change& ch) {
      std::cout << "key " << ch.key << (ch.deleted ? " deleted" : " set")
                << " at " << metadata::to_string(ch.ver) << std::endl;
      if (ch.key != key || !ch.local)
        return;
      self->request(node.membership, 5s, membership::m_leave_atom_v)
        .then([=] { finish(true); }, [=](caf::error&) { finish(false); });
    },
  };
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: embed_example SEED_HOST:PORT [NAME]\n";
    return 2;
  }
  google::InitGoogleLogging(argv[0]);
  std::string name = argc > 2 ? argv[2] : "embedded";
  caf::actor_system_config cfg;
  pekonode::init(cfg); // pekonode's type IDs and error categories
  compat::set_worker_threads(cfg, 2);
  caf::actor_system sys{cfg};

  node::node_config nc;
  nc.name = name;
  nc.seeds = {argv[1]};
  nc.membership = membership::config::local();
  nc.metadata = metadata::config::local();
  nc.transport.bind = "127.0.0.1:0";
  auto node = node::start_udp_node(sys, nc);
  if (!node) {
    std::cerr << "cannot start the node: " << sys.render(node.error()) << "\n";
    return 1;
  }
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  sys.spawn(app, *node, name, done);
  bool ok = result.wait_for(60s) == std::future_status::ready && result.get();
  // Let the leave notices reach the other members before the socket closes.
  std::this_thread::sleep_for(nc.membership.leave_drain);
  caf::anon_send_exit(node->membership, caf::exit_reason::user_shutdown);
  std::cout << (ok ? "done" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}
