// The time series behind the plotted report: fault spans as the script
// applies them, and a recorded run that takes exactly the course of an
// unrecorded one on both engines while its series agree with the verdict.
#include "chaos/trace.h"

#include <glog/logging.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "chaos/report.h"
#include "chaos/scenario.h"

namespace pekonode::chaos {
namespace {

// The actors log member joins at INFO; keep the test log readable.
const bool quiet_logs = [] {
  FLAGS_minloglevel = 1;
  return true;
}();

const fault_span* find_span(const run_trace& t, fault_span::kind k,
                            std::size_t node = no_node) {
  for (auto& f : t.faults)
    if (f.what == k && f.node == node) return &f;
  return nullptr;
}

TEST(TraceRecorder, SpansFollowTheScript) {
  run_trace t;
  trace_recorder rec(t, 6, 60, 0.5);
  for (std::size_t i = 0; i < 6; ++i) rec.node_started(i, 0);
  link_faults loss;
  loss.loss = 0.1;
  rec.faults_set(loss, "10% loss", 1);
  rec.faults_set(link_faults{}, "off", 3);
  rec.partitioned({{0, 1, 2}, {3, 4}, {5}}, 4);
  rec.healed(9);
  rec.node_crashed(2, 10);
  rec.node_started(2, 14);
  rec.stalled(4, 11, 12.5);
  rec.burst_set(true, "bursts", 15);
  rec.node_crashed(5, 16);
  rec.node_left(1, 17);
  rec.finish(20);

  auto* f = find_span(t, fault_span::kind::link_faults);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->label, "10% loss");
  EXPECT_DOUBLE_EQ(f->start_s, 1);
  EXPECT_DOUBLE_EQ(f->end_s, 3);
  f = find_span(t, fault_span::kind::partition);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->label, "3-way partition (3 | 2 | 1)");
  EXPECT_DOUBLE_EQ(f->start_s, 4);
  EXPECT_DOUBLE_EQ(f->end_s, 9);
  f = find_span(t, fault_span::kind::crash, 2);
  ASSERT_NE(f, nullptr);
  EXPECT_DOUBLE_EQ(f->start_s, 10);
  EXPECT_DOUBLE_EQ(f->end_s, 14); // closed by the restart
  f = find_span(t, fault_span::kind::stall, 4);
  ASSERT_NE(f, nullptr);
  EXPECT_DOUBLE_EQ(f->end_s, 12.5);
  // Still open at the end: closed there.
  f = find_span(t, fault_span::kind::burst_loss);
  ASSERT_NE(f, nullptr);
  EXPECT_DOUBLE_EQ(f->end_s, 20);
  f = find_span(t, fault_span::kind::crash, 5);
  ASSERT_NE(f, nullptr);
  EXPECT_DOUBLE_EQ(f->end_s, 20);
  EXPECT_EQ(t.faults.size(), 6u);
  // Restart and leave are marks on their nodes' lanes.
  ASSERT_EQ(t.marks.size(), 2u);
  EXPECT_EQ(t.marks[0].label, "restart n2");
  EXPECT_EQ(t.marks[0].node, 2u);
  EXPECT_EQ(t.marks[1].label, "leave n1");
  EXPECT_DOUBLE_EQ(t.end_s, 20);
}

TEST(TraceRecorder, LinkCutsMergeAndNameTheirShape) {
  auto label_of = [](auto script) {
    run_trace t;
    trace_recorder rec(t, 10, 60, 0.5);
    script(rec);
    rec.finish(50);
    return t.faults.empty() ? std::string("(none)") : t.faults.back().label;
  };
  // One node cut off one way from three others.
  EXPECT_EQ(label_of([](trace_recorder& r) {
              for (std::size_t j : {1, 2, 4}) r.blocked(3, j, 1);
              for (std::size_t j : {1, 2, 4}) r.unblocked(3, j, 5);
            }),
            "one-way cut n3 -> 3 nodes");
  // Both ways: isolated.
  EXPECT_EQ(label_of([](trace_recorder& r) {
              for (std::size_t j : {0, 1, 2}) {
                r.blocked(7, j, 1);
                r.blocked(j, 7, 1);
              }
              r.healed(4);
            }),
            "n7 <-> 3 nodes cut");
  // Separate links are listed.
  EXPECT_EQ(label_of([](trace_recorder& r) {
              r.blocked(1, 2, 1);
              r.blocked(2, 1, 1);
              r.blocked(5, 6, 2);
              r.unblocked(1, 2, 3);
            }),
            "cut n1<->n2, n5->n6");
  // Overlapping cuts make one span; it ends when the last cut does.
  run_trace t;
  trace_recorder rec(t, 10, 60, 0.5);
  rec.blocked(1, 2, 1);
  rec.blocked(3, 4, 2);
  rec.unblocked(1, 2, 3);
  rec.unblocked(3, 4, 6);
  rec.blocked(1, 2, 8);
  rec.unblocked(1, 2, 9);
  rec.finish(10);
  ASSERT_EQ(t.faults.size(), 2u);
  EXPECT_DOUBLE_EQ(t.faults[0].start_s, 1);
  EXPECT_DOUBLE_EQ(t.faults[0].end_s, 6);
  EXPECT_EQ(t.faults[1].label, "cut n1->n2");
  EXPECT_DOUBLE_EQ(t.faults[1].start_s, 8);
  EXPECT_DOUBLE_EQ(t.faults[1].end_s, 9);
}

class Recorded : public testing::TestWithParam<engine> {};

// Recording observes only: the verdict and timeline of a recorded run are
// those of the same run unrecorded, and its series match the verdict.
TEST_P(Recorded, RunIsUnchangedAndSeriesMatchTheVerdict) {
  const uint64_t seed = 5;
  std::cout << "seed " << seed << " engine " << to_string(GetParam()) << "\n";
  auto* sc = find_scenario("partition_2way_heal");
  ASSERT_NE(sc, nullptr);
  run_options opts;
  opts.kind = GetParam();
  opts.nodes = 8;
  opts.seed = seed;
  std::vector<std::string> plain_tl, rec_tl;
  auto plain = run_scenario(*sc, opts, &plain_tl);
  run_trace t;
  auto rec = run_scenario(*sc, opts, &rec_tl, &t);
  EXPECT_EQ(format_table({plain}), format_table({rec}));
  EXPECT_EQ(plain_tl, rec_tl);
  ASSERT_EQ(plain.curve.size(), rec.curve.size());
  for (std::size_t i = 0; i < plain.curve.size(); ++i)
    EXPECT_EQ(plain.curve[i].mem_fraction, rec.curve[i].mem_fraction) << i;
  ASSERT_TRUE(rec.pass());

  // Series: one entry per distinct sample time, lanes of one node each.
  ASSERT_GT(t.samples(), 100u);
  EXPECT_EQ(t.lanes, 8u);
  EXPECT_EQ(t.views.size(), t.samples() * t.lanes);
  EXPECT_EQ(t.truth.size(), t.samples() * t.lanes);
  for (auto* v : {&t.mem_agree, &t.md_agree, &t.mem_bps_mean, &t.md_bps_mean,
                  &t.mem_bps_max, &t.md_bps_max})
    EXPECT_EQ(v->size(), t.samples());
  EXPECT_TRUE(std::is_sorted(t.t_s.begin(), t.t_s.end()));
  EXPECT_DOUBLE_EQ(t.end_s, rec.duration_s);
  // The membership agreement is the harness's own, sample for sample.
  std::size_t j = 0;
  for (std::size_t i = 0; i < t.samples(); ++i) {
    while (j < rec.curve.size() && rec.curve[j].t_s < t.t_s[i]) ++j;
    ASSERT_LT(j, rec.curve.size());
    EXPECT_EQ(rec.curve[j].mem_fraction, t.mem_agree[i]) << t.t_s[i];
  }

  // The partition: one span, before the settle mark, healed there.
  auto* p = find_span(t, fault_span::kind::partition);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->label, "2-way partition (4 | 4)");
  EXPECT_GT(t.settle_s, p->start_s + 60);
  EXPECT_DOUBLE_EQ(p->end_s, t.settle_s);
  // Inside the partition (late, after every timeout) each node is held
  // dead by the other half: half of every lane is dead, no agreement.
  auto inside = std::lower_bound(t.t_s.begin(), t.t_s.end(), p->end_s - 5)
                - t.t_s.begin();
  for (std::size_t l = 0; l < t.lanes; ++l) {
    auto& s = t.view_at(inside, l);
    EXPECT_EQ(s[0], 128) << "alive share, lane " << l; // 4 of 8 views
    EXPECT_EQ(s[2], 255) << "alive+suspect+dead, lane " << l;
    EXPECT_EQ(t.truth_at(inside, l)[0], 255) << "all up, lane " << l;
  }
  EXPECT_EQ(t.mem_agree[inside], 0.0);
  EXPECT_EQ(t.md_agree[inside], 0.0); // writes on both sides
  // At the end every view is exact and every store holds every write.
  auto& last = t.view_at(t.samples() - 1, 0);
  EXPECT_EQ(last[0], 255);
  EXPECT_EQ(t.mem_agree.back(), 1.0);
  EXPECT_EQ(t.md_agree.back(), 1.0);
  EXPECT_EQ(t.writes_s.size(), rec.acked_writes);

  // Traffic: the time average of the per-node mean is the verdict's
  // bytes per node per second (which divides by all N over the whole run;
  // the boot, when fewer nodes are up, is a few seconds of ~270).
  double mem = 0, md = 0, prev = 0;
  for (std::size_t i = 0; i < t.samples(); ++i) {
    mem += t.mem_bps_mean[i] * (t.t_s[i] - prev);
    md += t.md_bps_mean[i] * (t.t_s[i] - prev);
    prev = t.t_s[i];
  }
  mem /= prev;
  md /= prev;
  EXPECT_NEAR(mem, rec.mem_bytes_per_node_s, 0.1 * rec.mem_bytes_per_node_s);
  EXPECT_NEAR(md, rec.md_bytes_per_node_s, 0.1 * rec.md_bytes_per_node_s);
  for (std::size_t i = 0; i < t.samples(); ++i) {
    EXPECT_GE(t.mem_bps_max[i], t.mem_bps_mean[i]);
    EXPECT_GE(t.md_bps_max[i], t.md_bps_mean[i]);
  }

  // And the report of it names the partition.
  report_run run;
  run.verdict = rec;
  run.trace = t;
  auto html = render_html({run}, "t");
  EXPECT_NE(html.find("2-way partition (4 | 4)"), std::string::npos);
}

// A crash: the victim's lane turns dead in every view; its truth is down.
TEST_P(Recorded, CrashShowsOnItsLane) {
  const uint64_t seed = 2;
  std::cout << "seed " << seed << " engine " << to_string(GetParam()) << "\n";
  run_options opts;
  opts.kind = GetParam();
  opts.nodes = 6;
  opts.seed = seed;
  run_trace t;
  auto r = run_scenario(*find_scenario("crash"), opts, nullptr, &t);
  ASSERT_TRUE(r.pass());
  const fault_span* c = nullptr;
  for (auto& f : t.faults)
    if (f.what == fault_span::kind::crash) c = &f;
  ASSERT_NE(c, nullptr);
  ASSERT_NE(c->node, no_node);
  EXPECT_DOUBLE_EQ(c->start_s, t.settle_s);
  EXPECT_DOUBLE_EQ(c->end_s, t.end_s);
  auto lane = t.lane_of(c->node);
  auto& end_view = t.view_at(t.samples() - 1, lane);
  EXPECT_EQ(end_view[1], 0);   // no alive or suspect share left
  EXPECT_EQ(end_view[2], 255); // all dead
  EXPECT_EQ(t.truth_at(t.samples() - 1, lane)[1], 0);   // not up or stalled
  EXPECT_EQ(t.truth_at(t.samples() - 1, lane)[2], 255); // down
  // Before the crash it was alive everywhere.
  auto before = std::lower_bound(t.t_s.begin(), t.t_s.end(), c->start_s - 1)
                - t.t_s.begin();
  EXPECT_EQ(t.view_at(before, lane)[0], 255);
}

INSTANTIATE_TEST_SUITE_P(Engines, Recorded,
                         testing::Values(engine::cores, engine::actors),
                         [](const auto& info) {
                           return std::string(to_string(info.param));
                         });

} // namespace
} // namespace pekonode::chaos
