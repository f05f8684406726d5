#include "transport/timer.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace pekonode::transport {
namespace {

using namespace std::chrono_literals;

// The timer and its clients on CAF's test coordinator: virtual time only.
class Timer : public testing::Test {
protected:
  Timer() {
    compat::use_test_scheduler(cfg_);
    compat::quiet_caf_logger(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &compat::test_scheduler(*sys_);
    timer_ = make_timer(*sys_);
    sched_->run();
    t0_ = now();
  }

  ~Timer() override {
    for (auto& c : clients_)
      caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(timer_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  time_point now() { return sched_->clock().now(); }

  /// A client recording the virtual time of every wake-up.
  timer_client_actor client(std::shared_ptr<std::vector<time_point>> wakes) {
    auto c = sys_->spawn(
      [wakes](timer_client_actor::pointer self)
        -> timer_client_actor::behavior_type {
        return {[wakes, self](tm_wake_atom) {
          wakes->push_back(self->clock().now());
        }};
      });
    clients_.push_back(c);
    sched_->run();
    return c;
  }

  void due(const timer_client_actor& c, time_point at) {
    caf::anon_send(timer_, tm_due_atom_v, deadline{c, at});
    sched_->run();
  }

  // Advances virtual time in 1 ms steps, running every actor in between.
  void advance(caf::timespan total) {
    for (caf::timespan t{0}; t < total; t += 1ms) {
      sched_->advance_time(1ms);
      sched_->run();
    }
  }

  timer_stats stats() {
    auto out = std::make_shared<timer_stats>();
    auto timer = timer_;
    sys_->spawn([=](caf::event_based_actor* self) {
      self->request(timer, caf::infinite, tm_stats_atom_v)
        .then([=](timer_stats& st) { *out = st; });
    });
    sched_->run();
    return *out;
  }

  /// Timeouts pending on CAF's clock (the timer's own and stale ones).
  size_t pending_timeouts() { return sched_->clock().schedule().size(); }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  timer_actor timer_;
  std::vector<timer_client_actor> clients_;
  time_point t0_;
};

TEST_F(Timer, WakesTheClientAtItsDeadline) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, t0_ + 300ms);
  advance(299ms);
  EXPECT_TRUE(wakes->empty());
  advance(1ms);
  ASSERT_EQ(wakes->size(), 1u);
  EXPECT_EQ(wakes->front() - t0_, 300ms);
  // A wake-up clears the deadline: nothing more comes without a new report.
  advance(2s);
  EXPECT_EQ(wakes->size(), 1u);
  EXPECT_EQ(stats().wakes, 1u);
}

TEST_F(Timer, ADeadlineAtOrBeforeNowWakesAtOnce) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, now());
  ASSERT_EQ(wakes->size(), 1u);
  // time_point::min() is "poll now" for a core that has not run yet.
  due(c, time_point::min());
  EXPECT_EQ(wakes->size(), 2u);
  EXPECT_EQ(pending_timeouts(), 0u);
}

TEST_F(Timer, ALaterDeadlineReplacesAnEarlierOne) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, t0_ + 100ms);
  due(c, t0_ + 500ms);
  advance(1s);
  ASSERT_EQ(wakes->size(), 1u);
  EXPECT_EQ(wakes->front() - t0_, 500ms);
}

TEST_F(Timer, AnEarlierDeadlineSupersedesTheArmedOne) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, t0_ + 500ms);
  due(c, t0_ + 100ms);
  advance(1s);
  // The timeout armed for 500 ms still arrives (CAF 0.17 cannot cancel one)
  // but wakes nobody.
  ASSERT_EQ(wakes->size(), 1u);
  EXPECT_EQ(wakes->front() - t0_, 100ms);
}

TEST_F(Timer, AClearedDeadlineNeverWakes) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, t0_ + 100ms);
  due(c, time_point::max());
  advance(1s);
  EXPECT_TRUE(wakes->empty());
  EXPECT_EQ(stats().clients, 0u);
}

// Coalescing: a client whose deadline keeps moving later (a core that
// reports after every call) costs one pending timeout, not one per report;
// an idle timer costs none.
TEST_F(Timer, OnePendingTimeoutPerClientAndNoneWhenIdle) {
  EXPECT_EQ(pending_timeouts(), 0u);
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  for (int i = 1; i <= 50; ++i)
    due(c, t0_ + 10ms * i);
  EXPECT_EQ(pending_timeouts(), 1u);
  EXPECT_EQ(stats().armed, 1u);
  advance(500ms);
  ASSERT_EQ(wakes->size(), 1u);
  EXPECT_EQ(wakes->front() - t0_, 500ms);
  // Woken, no new deadline: nothing pending, no periodic tick.
  EXPECT_EQ(pending_timeouts(), 0u);
  EXPECT_EQ(stats().armed, 0u);
  advance(1s);
  EXPECT_EQ(pending_timeouts(), 0u);
}

TEST_F(Timer, ClientsAreWokenIndependently) {
  auto wa = std::make_shared<std::vector<time_point>>();
  auto wb = std::make_shared<std::vector<time_point>>();
  auto a = client(wa);
  auto b = client(wb);
  due(a, t0_ + 200ms);
  due(b, t0_ + 50ms);
  advance(300ms);
  ASSERT_EQ(wa->size(), 1u);
  ASSERT_EQ(wb->size(), 1u);
  EXPECT_EQ(wa->front() - t0_, 200ms);
  EXPECT_EQ(wb->front() - t0_, 50ms);
}

// A stalled node: while held, wake-ups are owed, not delivered; on release
// each owed client is woken once, at once.
TEST_F(Timer, HoldOwesWakesAndReleaseDeliversEachOnce) {
  auto wa = std::make_shared<std::vector<time_point>>();
  auto wb = std::make_shared<std::vector<time_point>>();
  auto a = client(wa);
  auto b = client(wb);
  caf::anon_send(timer_, tm_hold_atom_v, true);
  due(a, t0_ + 100ms);
  due(b, now()); // "at once" is owed as well
  advance(1s);
  EXPECT_TRUE(wa->empty());
  EXPECT_TRUE(wb->empty());
  EXPECT_TRUE(stats().held);
  EXPECT_EQ(stats().clients, 2u);
  auto released = now();
  caf::anon_send(timer_, tm_hold_atom_v, false);
  sched_->run();
  ASSERT_EQ(wa->size(), 1u);
  ASSERT_EQ(wb->size(), 1u);
  EXPECT_EQ(wa->front(), released);
  advance(1s);
  EXPECT_EQ(wa->size(), 1u);
  EXPECT_EQ(wb->size(), 1u);
  // A deadline still in the future at release is kept and fires on time.
  caf::anon_send(timer_, tm_hold_atom_v, true);
  due(a, now() + 50ms);
  caf::anon_send(timer_, tm_hold_atom_v, false);
  sched_->run();
  EXPECT_EQ(wa->size(), 1u);
  advance(50ms);
  EXPECT_EQ(wa->size(), 2u);
}

TEST_F(Timer, ATerminatedClientIsForgotten) {
  auto wakes = std::make_shared<std::vector<time_point>>();
  auto c = client(wakes);
  due(c, t0_ + 100ms);
  EXPECT_EQ(stats().clients, 1u);
  caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  sched_->run();
  EXPECT_EQ(stats().clients, 0u);
  advance(200ms);
  EXPECT_EQ(stats().wakes, 0u);
}

// The shell side: a reporter sends a deadline only when it is earlier than
// the one the timer holds, and after every wake-up; a later deadline waits
// for the pending wake-up (an early poll) and costs no message.
TEST_F(Timer, ReporterSendsOnlyEarlierDeadlines) {
  struct client_state {
    deadline_reporter reporter;
    std::vector<time_point> wakes;
  };
  auto st = std::make_shared<client_state>();
  auto timer = timer_;
  auto t0 = t0_;
  // `(caf::put_atom, ms)`: report the deadline t0 + ms, as a shell does
  // after each core call.
  auto c = sys_->spawn([st, timer, t0](caf::event_based_actor* self) {
    st->reporter = deadline_reporter{
      timer, caf::actor_cast<timer_client_actor>(self)};
    return caf::behavior{
      [st, self](tm_wake_atom) {
        st->reporter.woken();
        st->wakes.push_back(self->clock().now());
      },
      [st, self, t0](caf::put_atom, int64_t ms) {
        st->reporter.report(self, t0 + std::chrono::milliseconds(ms));
      },
      [st, self](caf::delete_atom) {
        st->reporter.report(self, time_point::max());
      },
    };
  });
  clients_.push_back(caf::actor_cast<timer_client_actor>(c));
  sched_->run();
  auto report = [&](int64_t ms) {
    caf::anon_send(c, caf::put_atom_v, ms);
    sched_->run();
  };
  report(200);
  report(300); // later: not sent
  report(100); // earlier: sent, supersedes 200
  EXPECT_EQ(stats().armed, 1u);
  advance(150ms);
  ASSERT_EQ(st->wakes.size(), 1u);
  EXPECT_EQ(st->wakes[0] - t0_, 100ms);
  // After a wake-up the next report is sent whatever it is.
  report(400);
  advance(300ms);
  ASSERT_EQ(st->wakes.size(), 2u);
  EXPECT_EQ(st->wakes[1] - t0_, 400ms);
  // "Nothing due" is never sent: the timer holds nothing for the client.
  caf::anon_send(c, caf::delete_atom_v);
  sched_->run();
  EXPECT_EQ(stats().clients, 0u);
  EXPECT_EQ(stats().armed, 0u);
  EXPECT_EQ(pending_timeouts(), 0u);
}

} // namespace
} // namespace pekonode::transport
