// The membership vocabulary's names: member states and event kinds are
// shown by the admin API (/v1/members "state") and in logs, so they are a
// contract.
#include "membership/types.h"

#include <gtest/gtest.h>

#include <string>

namespace pekonode::membership {
namespace {

TEST(Types, StateNamesAreTheAdminApiNames) {
  EXPECT_STREQ(to_string(member_state::alive), "alive");
  EXPECT_STREQ(to_string(member_state::suspect), "suspect");
  EXPECT_STREQ(to_string(member_state::dead), "dead");
  EXPECT_STREQ(to_string(member_state::left), "left");
  EXPECT_STREQ(to_string(static_cast<member_state>(9)), "unknown");
  EXPECT_TRUE(is_live(member_state::alive));
  EXPECT_TRUE(is_live(member_state::suspect));
  EXPECT_FALSE(is_live(member_state::dead));
  EXPECT_FALSE(is_live(member_state::left));
}

TEST(Types, EventAndErrorNames) {
  const char* kinds[] = {"joined", "suspect", "alive", "dead",
                         "left", "updated", "name_conflict"};
  for (int k = event::joined; k <= event::name_conflict; ++k)
    EXPECT_STREQ(to_string(static_cast<event::kind_t>(k)), kinds[k]);
  EXPECT_STREQ(to_string(static_cast<event::kind_t>(42)), "unknown");
  const char* errors[] = {"none", "tags_too_large", "bad_tag", "not_running",
                          "bad_config"};
  for (int e = 0; e <= static_cast<int>(ec::bad_config); ++e)
    EXPECT_STREQ(to_string(static_cast<ec>(e)), errors[e]);
  EXPECT_STREQ(to_string(static_cast<ec>(77)), "unknown");
}

} // namespace
} // namespace pekonode::membership
