#include "transport/timer.h"

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;
using tick_atom = caf::atom_constant<caf::atom("t_tick")>;

class Timer : public testing::Test {
protected:
  Timer() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    ticks_ = std::make_shared<std::vector<time_point>>();
    auto ticks = ticks_;
    target_ = sys_->spawn([ticks](caf::event_based_actor* self) -> caf::behavior {
      return {[ticks, self](tick_atom) { ticks->push_back(self->clock().now()); }};
    });
  }

  ~Timer() override {
    caf::anon_send_exit(target_, caf::exit_reason::user_shutdown);
    if (timer_)
      caf::anon_send_exit(timer_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  // Advances virtual time in 1 ms steps, running every actor in between.
  void advance(caf::timespan total) {
    for (caf::timespan t{0}; t < total; t += 1ms) {
      sched_->advance_time(1ms);
      sched_->run();
    }
  }

  uint64_t request_id(caf::message msg) {
    auto out = std::make_shared<uint64_t>(0);
    auto timer = timer_;
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(timer, caf::infinite, msg).then([=](uint64_t id) { *out = id; });
    });
    sched_->run();
    return *out;
  }

  uint64_t count() {
    auto out = std::make_shared<uint64_t>(99);
    auto timer = timer_;
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(timer, caf::infinite, tm_count_atom::value)
        .then([=](uint64_t n) { *out = n; });
    });
    sched_->run();
    return *out;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  caf::actor timer_;
  caf::actor target_;
  std::shared_ptr<std::vector<time_point>> ticks_;
};

TEST_F(Timer, PeriodicTicksStayWithinJitterBounds) {
  const uint64_t seed = 7;
  std::cout << "seed " << seed << std::endl;
  timer_ = make_timer(*sys_, {seed});
  auto t0 = sched_->clock().now();
  auto id = request_id(caf::make_message(tm_every_atom::value, target_,
                                         caf::make_message(tick_atom::value),
                                         caf::timespan{1s}, 0.2));
  EXPECT_GT(id, 0u);
  advance(20s);
  ASSERT_GE(ticks_->size(), 16u);
  ASSERT_LE(ticks_->size(), 25u);
  auto prev = t0;
  bool varied = false;
  for (size_t i = 0; i < ticks_->size(); ++i) {
    auto gap = (*ticks_)[i] - prev;
    EXPECT_GE(gap, 800ms) << "tick " << i;
    EXPECT_LE(gap, 1201ms) << "tick " << i; // +1 ms step quantisation
    if (i > 0 && gap != (*ticks_)[i - 1] - (i > 1 ? (*ticks_)[i - 2] : t0))
      varied = true;
    prev = (*ticks_)[i];
  }
  EXPECT_TRUE(varied) << "jitter had no effect";
}

TEST_F(Timer, WithoutJitterTicksAreExact) {
  timer_ = make_timer(*sys_);
  auto t0 = sched_->clock().now();
  request_id(caf::make_message(tm_every_atom::value, target_,
                               caf::make_message(tick_atom::value),
                               caf::timespan{250ms}, 0.0));
  advance(1s);
  ASSERT_EQ(ticks_->size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ((*ticks_)[i] - t0, 250ms * static_cast<int>(i + 1));
}

TEST_F(Timer, CancelStopsTicks) {
  timer_ = make_timer(*sys_);
  auto id = request_id(caf::make_message(tm_every_atom::value, target_,
                                         caf::make_message(tick_atom::value),
                                         caf::timespan{100ms}, 0.1));
  advance(1s);
  auto before = ticks_->size();
  EXPECT_GE(before, 8u);
  caf::anon_send(timer_, tm_cancel_atom::value, id);
  advance(1s);
  EXPECT_EQ(ticks_->size(), before);
  EXPECT_EQ(count(), 0u);
}

TEST_F(Timer, OnceFiresExactlyOnce) {
  timer_ = make_timer(*sys_);
  auto t0 = sched_->clock().now();
  request_id(caf::make_message(tm_once_atom::value, target_,
                               caf::make_message(tick_atom::value),
                               caf::timespan{300ms}));
  advance(2s);
  ASSERT_EQ(ticks_->size(), 1u);
  EXPECT_EQ(ticks_->front() - t0, 300ms);
  EXPECT_EQ(count(), 0u);
}

TEST_F(Timer, HoldSuppressesTicksAndReleaseFiresOnce) {
  timer_ = make_timer(*sys_);
  request_id(caf::make_message(tm_every_atom::value, target_,
                               caf::make_message(tick_atom::value),
                               caf::timespan{100ms}, 0.0));
  caf::anon_send(timer_, tm_hold_atom::value, true);
  advance(1s);
  EXPECT_TRUE(ticks_->empty());
  caf::anon_send(timer_, tm_hold_atom::value, false);
  sched_->run();
  EXPECT_EQ(ticks_->size(), 1u);
  advance(200ms);
  EXPECT_EQ(ticks_->size(), 3u);
}

TEST_F(Timer, SchedulesEndWhenTargetTerminates) {
  timer_ = make_timer(*sys_);
  request_id(caf::make_message(tm_every_atom::value, target_,
                               caf::make_message(tick_atom::value),
                               caf::timespan{100ms}, 0.0));
  EXPECT_EQ(count(), 1u);
  caf::anon_send_exit(target_, caf::exit_reason::user_shutdown);
  sched_->run();
  EXPECT_EQ(count(), 0u);
}

TEST_F(Timer, RejectsNonPositivePeriod) {
  timer_ = make_timer(*sys_);
  auto failed = std::make_shared<bool>(false);
  auto timer = timer_;
  auto target = target_;
  sys_->spawn([=](caf::event_based_actor* self) {
    self->request(timer, caf::infinite, tm_every_atom::value, target,
                  caf::make_message(tick_atom::value), caf::timespan{0}, 0.0)
      .then([](uint64_t) {}, [=](caf::error&) { *failed = true; });
  });
  sched_->run();
  EXPECT_TRUE(*failed);
}

} // namespace
} // namespace pekonode::transport
