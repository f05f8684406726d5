#pragma once
// The one header that knows pekonode is built against CAF 0.17.6 (Debian 12).
// Everything else is written as on CAF 0.18+: type-ID blocks with
// CAF_ADD_ATOM / CAF_ADD_TYPE_ID, atoms used through their `_v` constants,
// typed actor handles, error code enums. What differs between the versions
// (registering type-ID blocks and error categories, reading an error's code,
// linking two actors from outside, the test scheduler's settings) is wrapped
// here, so moving to a newer CAF touches this file only.
//
// Type-ID blocks of pekonode, each starting where the previous one ends (an
// embedder's own block starts at caf::id_block::pekonode_node::end):
//
//   pekonode_common      common/caf_types.h             first_custom_type_id
//   pekonode_transport   transport/transport.h          pekonode_common::end
//   pekonode_membership  membership/membership_actor.h  pekonode_transport::end
//   pekonode_metadata    metadata/metadata_actor.h      pekonode_membership::end
//   pekonode_node        node/node.h                    pekonode_metadata::end
//
// `node/init.h` registers all of them (and the error categories) with an
// actor system configuration: the one call an embedder makes.
//
// Top-level message elements are pekonode types, atoms or CAF's own types
// only: pekonode assigns no type ID to a standard container of standard
// types (e.g. std::vector<std::string>), which an embedder's block or a
// future CAF might claim as well.

#include <caf/all.hpp>
#include <caf/type_id.hpp>

#include <optional>
#include <string>
#include <type_traits>

#include "common/intern.h"
#include "common/interned_tags.h"

namespace pekonode::compat {

// -- error code enums ----------------------------------------------------------

/// Declares `enum_type` (an `enum class ... : uint8_t` with a `to_string`
/// found by ADL) as an error code enum of category `category_name`: `caf::error
/// {code}`, `caf::make_error(code, context...)` and returning a code from a
/// handler (`caf::result<T>`) then work. On CAF 0.18+ this is
/// `CAF_ERROR_CODE_ENUM(enum_type)` and the category is the enum's type ID.
#define PEKONODE_ERROR_CODE_ENUM(enum_type, category_name)                     \
  CAF_ERROR_CODE_ENUM(enum_type, category_name)

/// The code of `err` if it belongs to `E`'s category, else nullopt.
template <class E>
std::optional<E> error_code(const caf::error& err) {
  if (!err || err.category() != caf::detail::error_factory<E>::category)
    return std::nullopt;
  return static_cast<E>(err.code());
}

/// Whether `err` belongs to `E`'s category.
template <class E>
bool is_category(const caf::error& err) {
  return err && err.category() == caf::detail::error_factory<E>::category;
}

/// The text name of `E`'s category ("membership", ...).
template <class E>
std::string category_name() {
  return caf::to_string(caf::detail::error_factory<E>::category);
}

/// Renders the context of an error: a single string as itself, anything
/// else as CAF prints it; empty when there is none.
inline std::string render_context(const caf::message& ctx) {
  if (ctx.empty())
    return {};
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return caf::deep_to_string(ctx);
}

/// Registers `E`'s category with the actor system, which then renders such
/// errors (`actor_system::render`) as "category: code (context)", the
/// context as `context` renders it. On CAF 0.18+ error code enums need no
/// registration beyond their type ID.
template <class E>
void add_error_category(caf::actor_system_config& cfg,
                        std::string (*context)(const caf::message&)
                        = render_context) {
  auto cat = caf::detail::error_factory<E>::category;
  cfg.add_error_category(
    cat, [context](uint8_t code, caf::atom_value category,
                   const caf::message& ctx) {
      std::string out = caf::to_string(category);
      out += ": ";
      out += to_string(static_cast<E>(code));
      if (auto detail = context(ctx); !detail.empty()) {
        out += " (";
        out += detail;
        out += ")";
      }
      return out;
    });
}

/// Whether `E`'s category was registered with `sys`'s configuration.
template <class E>
bool has_error_category(const caf::actor_system& sys) {
  return sys.config().error_renderers.count(
           caf::detail::error_factory<E>::category)
         > 0;
}

// -- inspection ---------------------------------------------------------------

/// The result type of an `inspect` overload (on CAF 0.18+: bool).
#define PEKONODE_INSPECT_RESULT(Inspector) typename Inspector::result_type

/// One named field of an inspected object. CAF 0.18+'s inspectors use the
/// name (`f.field(name, value)`); 0.17 inspects fields by position.
template <class T>
struct field_ref {
  const char* name;
  T& value;
};

template <class T>
field_ref<T> field(const char* name, T& value) {
  return {name, value};
}

/// Inspects `x`, an object called `type_name`, field by field in order: the
/// body of every pekonode `inspect` overload. On CAF 0.18+ this is
/// `f.object(x).pretty_name(type_name).fields(f.field(name, value)...)`.
template <class Inspector, class T, class... Fs>
typename Inspector::result_type
inspect_object(Inspector& f, T& x, const char* type_name, field_ref<Fs>... fs) {
  static_cast<void>(x);
  return f(caf::meta::type_name(type_name), fs.value...);
}

// -- type-ID blocks ---------------------------------------------------------------

/// Registers the types of one type-ID block. On CAF 0.18+ this is
/// `caf::init_global_meta_objects<Block>()`, once per process, before any
/// actor system starts.
template <class Block>
void add_type_ids(caf::actor_system_config& cfg) {
  cfg.add_message_types<Block>();
}

/// Whether `sys` knows a message type by the name its type-ID block gives it
/// (e.g. "pekonode::membership::member").
inline bool has_message_type(const caf::actor_system& sys,
                             const std::string& name) {
  return sys.types().make_value(name) != nullptr;
}

// -- links ---------------------------------------------------------------------

/// Links two running actors from outside an actor (both directions: when
/// either terminates with a non-normal reason, the other receives an exit
/// message and, by default, terminates with the same reason).
template <class Handle1, class Handle2>
void link(const Handle1& a, const Handle2& b) {
  auto* pa = caf::actor_cast<caf::abstract_actor*>(a);
  auto* pb = caf::actor_cast<caf::abstract_actor*>(b);
  if (pa != nullptr && pb != nullptr)
    pa->add_link(pb);
}

// -- actor system settings ----------------------------------------------------

/// Runs actors on CAF's deterministic test coordinator (virtual time).
inline void use_test_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
}

/// Runs actors on CAF's sharing scheduler: workers block on one shared queue
/// until work arrives, instead of polling for work as the default
/// work-stealing workers do.
inline void use_sharing_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
}

/// The test coordinator of a system configured by use_test_scheduler.
inline caf::scheduler::test_coordinator& test_scheduler(caf::actor_system& sys) {
  return dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
}

/// Silences CAF's own logger (pekonode logs with glog).
inline void quiet_caf_logger(caf::actor_system_config& cfg) {
  cfg.set("logger.verbosity", caf::atom("quiet"));
}

/// Caps the scheduler's worker threads (CAF's default is max(4, cores)).
inline void set_worker_threads(caf::actor_system_config& cfg, size_t n) {
  cfg.set("scheduler.max-threads", n);
}

} // namespace pekonode::compat

namespace pekonode {

/// An interned text travels and prints as its text.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, interned& x) {
  std::string text = x.str();
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x = text;
    return caf::none;
  });
  return f(text, load);
}

/// An interned tag set travels and prints as a std::map of its pairs.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, interned_tags& x) {
  auto pairs = x.to_map();
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x = pairs;
    return caf::none;
  });
  return f(pairs, load);
}

} // namespace pekonode
