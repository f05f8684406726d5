#include "node/init.h"

#include "common/caf_compat.h"
#include "membership/membership_actor.h"
#include "metadata/metadata_actor.h"
#include "node/node.h"
#include "transport/transport.h"
#include "userevents/userevents_actor.h"

namespace pekonode {

void init(caf::actor_system_config& cfg) {
  compat::add_type_ids<caf::id_block::pekonode_common>(cfg);
  compat::add_type_ids<caf::id_block::pekonode_transport>(cfg);
  compat::add_type_ids<caf::id_block::pekonode_membership>(cfg);
  compat::add_type_ids<caf::id_block::pekonode_metadata>(cfg);
  compat::add_type_ids<caf::id_block::pekonode_userevents>(cfg);
  compat::add_type_ids<caf::id_block::pekonode_node>(cfg);
  compat::add_error_category<transport::ec>(cfg);
  compat::add_error_category<membership::ec>(cfg);
  compat::add_error_category<metadata::ec>(cfg, metadata::describe_context);
  compat::add_error_category<userevents::ec>(cfg);
  compat::add_error_category<node::ec>(cfg);
}

bool initialized(const caf::actor_system& sys) {
  return compat::has_error_category<transport::ec>(sys)
         && compat::has_error_category<membership::ec>(sys)
         && compat::has_error_category<metadata::ec>(sys)
         && compat::has_error_category<userevents::ec>(sys)
         && compat::has_error_category<node::ec>(sys);
}

} // namespace pekonode
