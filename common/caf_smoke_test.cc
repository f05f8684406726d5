#include <caf/all.hpp>
#include <gtest/gtest.h>
TEST(CafSmoke, ActorReplies) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn([]() -> caf::behavior { return {[](int x) { return x * 2; }}; });
  caf::scoped_actor self{sys};
  int got = 0;
  self->request(a, std::chrono::seconds(5), 21).receive([&](int r) { got = r; }, [](caf::error&) {});
  EXPECT_EQ(got, 42);
}
