// Tests for core/timer_wheel.h: advance(now) fires exactly the armed timers whose deadline is
// <= now (never early; when advanced every tick, at most one tick late), once each, with their
// cookie and deadline; timers several revolutions (4096 ticks) out survive the early passes of
// their bucket; past deadlines fire on the next advance; schedule() replaces an id's timer and
// cancel() disarms it, also from inside fire(); a jump of many revolutions fires everything due
// exactly once. A randomized test checks all of it against a plain std::map model.
#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace boxoffice {
namespace {

constexpr int64_t kRevolutionTicks = 4096;
// A wall-clock-like start that is not a multiple of any tick used here.
constexpr int64_t kStartMs = 1'700'000'000'003;

struct Fired {
  uint32_t id;
  uint64_t cookie;
  int64_t deadline_ms;
  bool operator==(const Fired&) const = default;
};

std::vector<Fired> advance_and_collect(TimerWheel& wheel, int64_t now_ms) {
  std::vector<Fired> fired;
  const uint32_t count = wheel.advance(now_ms, [&](uint32_t id, uint64_t cookie, int64_t deadline) {
    fired.push_back({id, cookie, deadline});
  });
  EXPECT_EQ(count, fired.size()) << "advance() must return the number of fire() calls";
  return fired;
}

std::set<uint32_t> ids_of(const std::vector<Fired>& fired) {
  std::set<uint32_t> ids;
  for (const Fired& f : fired) ids.insert(f.id);
  return ids;
}

TEST(TimerWheel, FiresExactlyTheDueTimersWithCookieAndDeadline) {
  TimerWheel wheel(8, /*tick_ms=*/10, kStartMs);
  wheel.schedule(0, 100, kStartMs + 5);
  wheel.schedule(1, 101, kStartMs + 10);
  wheel.schedule(2, 102, kStartMs + 15);
  wheel.schedule(3, 103, kStartMs + 25);
  EXPECT_EQ(wheel.size(), 4u);

  EXPECT_TRUE(advance_and_collect(wheel, kStartMs + 4).empty());
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 5), (std::vector<Fired>{{0, 100, kStartMs + 5}}));
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 14),
            (std::vector<Fired>{{1, 101, kStartMs + 10}}));
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 24),
            (std::vector<Fired>{{2, 102, kStartMs + 15}}));
  EXPECT_TRUE(wheel.armed(3));
  EXPECT_FALSE(wheel.armed(0));
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 25),
            (std::vector<Fired>{{3, 103, kStartMs + 25}}));
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(advance_and_collect(wheel, kStartMs + 100000).empty());
}

TEST(TimerWheel, TimersInTheSameTickFireOnlyWhenTheirOwnDeadlineIsDue) {
  // Tick 100 ms: deadlines 10 and 90 share a tick, but 90 must not fire at 10.
  TimerWheel wheel(4, /*tick_ms=*/100, 0);
  wheel.schedule(0, 0, 10);
  wheel.schedule(1, 0, 90);
  EXPECT_EQ(ids_of(advance_and_collect(wheel, 10)), (std::set<uint32_t>{0}));
  EXPECT_TRUE(advance_and_collect(wheel, 89).empty());
  EXPECT_EQ(ids_of(advance_and_collect(wheel, 90)), (std::set<uint32_t>{1}));
}

// A worker advances its wheel on every loop turn, thousands of times a tick: timers not due yet
// must not be looked at again each time (that walk once cost more than the holds themselves).
TEST(TimerWheel, AdvancingBeforeAnythingIsDueLooksAtNoTimer) {
  constexpr uint32_t kTimers = 1000;
  TimerWheel wheel(2 * kTimers, /*tick_ms=*/10, kStartMs);
  for (uint32_t id = 0; id < kTimers; ++id) {
    wheel.schedule(id, id, kStartMs + 5 + id % 5);             // later within the current tick
    wheel.schedule(kTimers + id, id, kStartMs + 60'000 + id);  // revolutions ahead
  }
  for (int64_t now = kStartMs; now < kStartMs + 5; ++now) {
    for (int call = 0; call < 100; ++call) EXPECT_TRUE(advance_and_collect(wheel, now).empty());
  }
  EXPECT_EQ(wheel.visited(), 0u);
  // Then each timer is looked at when it fires, and the far ones once in a while: once per
  // revolution whose pass finds their bucket holding a due timer (here, none but the first).
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 9).size(), kTimers);
  for (int64_t now = kStartMs + 10; now < kStartMs + 60'000; now += 7) {
    EXPECT_TRUE(advance_and_collect(wheel, now).empty());
  }
  EXPECT_LE(wheel.visited(), 2 * kTimers);
  EXPECT_EQ(advance_and_collect(wheel, kStartMs + 61'000).size(), kTimers);
}

TEST(TimerWheel, AdvancedEveryMillisecondFiresAtTheDeadline) {
  constexpr uint32_t kTimers = 200;
  TimerWheel wheel(kTimers, /*tick_ms=*/10, kStartMs);
  std::mt19937_64 rng(1);
  std::vector<int64_t> deadline(kTimers);
  for (uint32_t id = 0; id < kTimers; ++id) {
    deadline[id] = kStartMs + 1 + static_cast<int64_t>(rng() % 2000);
    wheel.schedule(id, id, deadline[id]);
  }
  for (int64_t now = kStartMs + 1; now <= kStartMs + 2001; ++now) {
    for (const Fired& f : advance_and_collect(wheel, now)) {
      EXPECT_EQ(now, deadline[f.id]) << "timer " << f.id << " fired at the wrong time";
    }
  }
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, AdvancedOncePerTickFiresAtMostOneTickLate) {
  constexpr int64_t kTickMs = 10;
  constexpr uint32_t kTimers = 200;
  TimerWheel wheel(kTimers, kTickMs, kStartMs);
  std::mt19937_64 rng(2);
  std::vector<int64_t> deadline(kTimers);
  for (uint32_t id = 0; id < kTimers; ++id) {
    deadline[id] = kStartMs + static_cast<int64_t>(rng() % 5000);
    wheel.schedule(id, id, deadline[id]);
  }
  uint32_t fired_total = 0;
  for (int64_t now = kStartMs; now <= kStartMs + 5000 + kTickMs; now += kTickMs) {
    for (const Fired& f : advance_and_collect(wheel, now)) {
      ++fired_total;
      EXPECT_LE(deadline[f.id], now) << "early";
      EXPECT_LT(now - deadline[f.id], kTickMs) << "more than one tick late";
    }
  }
  EXPECT_EQ(fired_total, kTimers);
}

TEST(TimerWheel, TimersMoreThanARevolutionAheadSurviveEarlyPasses) {
  // Tick 1 ms: id 0 is 2.5 revolutions out, id 1 exactly one revolution, id 2 shares id 0's
  // bucket but is due first.
  TimerWheel wheel(4, /*tick_ms=*/1, 0);
  const int64_t far = 2 * kRevolutionTicks + 2048;
  wheel.schedule(0, 0, far);
  wheel.schedule(1, 0, kRevolutionTicks);
  wheel.schedule(2, 0, 2048);
  std::map<uint32_t, int64_t> fired_at;
  for (int64_t now = 1; now <= far + 1; ++now) {
    for (const Fired& f : advance_and_collect(wheel, now)) {
      EXPECT_TRUE(fired_at.emplace(f.id, now).second) << "timer " << f.id << " fired twice";
    }
  }
  EXPECT_EQ(fired_at, (std::map<uint32_t, int64_t>{{0, far}, {1, kRevolutionTicks}, {2, 2048}}));
}

TEST(TimerWheel, PastDeadlinesFireOnTheNextAdvance) {
  TimerWheel wheel(4, /*tick_ms=*/10, kStartMs);
  wheel.schedule(0, 0, kStartMs - 1'000'000);  // before the wheel was created
  EXPECT_EQ(ids_of(advance_and_collect(wheel, kStartMs)), (std::set<uint32_t>{0}));

  ASSERT_TRUE(advance_and_collect(wheel, kStartMs + 1000).empty());
  wheel.schedule(1, 0, kStartMs + 500);
  wheel.schedule(2, 0, kStartMs + 999);
  wheel.schedule(3, 0, kStartMs + 1000);
  // Same `now` again: the clock has not moved, the timers are due anyway.
  EXPECT_EQ(ids_of(advance_and_collect(wheel, kStartMs + 1000)), (std::set<uint32_t>{1, 2, 3}));
}

TEST(TimerWheel, ScheduleReplacesTheEarlierTimerOfTheSameId) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  wheel.schedule(1, 7, 100);
  wheel.schedule(1, 8, 50);  // earlier
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(advance_and_collect(wheel, 60), (std::vector<Fired>{{1, 8, 50}}));
  EXPECT_TRUE(advance_and_collect(wheel, 200).empty()) << "the replaced timer fired too";

  wheel.schedule(2, 1, 300);
  wheel.schedule(2, 2, 400);  // later (a hold extended)
  EXPECT_TRUE(advance_and_collect(wheel, 350).empty());
  EXPECT_EQ(advance_and_collect(wheel, 400), (std::vector<Fired>{{2, 2, 400}}));
}

TEST(TimerWheel, CancelDisarmsAndIsIdempotent) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  wheel.schedule(0, 0, 100);
  wheel.schedule(1, 0, 100);
  wheel.cancel(0);
  EXPECT_FALSE(wheel.armed(0));
  EXPECT_TRUE(wheel.armed(1));
  EXPECT_EQ(wheel.size(), 1u);
  wheel.cancel(0);
  wheel.cancel(3);  // never armed
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(ids_of(advance_and_collect(wheel, 100)), (std::set<uint32_t>{1}));
}

TEST(TimerWheel, EveryIdCanBeArmedAtOnceAndReusedAfterFiring) {
  constexpr uint32_t kIds = 1000;
  TimerWheel wheel(kIds, /*tick_ms=*/5, 0);
  EXPECT_EQ(wheel.id_count(), kIds);
  for (int round = 0; round < 3; ++round) {
    const int64_t base = round * 10000;
    for (uint32_t id = 0; id < kIds; ++id) wheel.schedule(id, round, base + 1 + id % 17);
    EXPECT_EQ(wheel.size(), kIds);
    const std::vector<Fired> fired = advance_and_collect(wheel, base + 100);
    EXPECT_EQ(fired.size(), kIds);
    EXPECT_EQ(ids_of(fired).size(), kIds);
    for (const Fired& f : fired) EXPECT_EQ(f.cookie, static_cast<uint64_t>(round));
    EXPECT_EQ(wheel.size(), 0u);
  }
}

TEST(TimerWheelDeathTest, IdBeyondIdCountIsAProgrammerError) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  EXPECT_DEATH(wheel.schedule(4, 0, 100), "");
  EXPECT_DEATH(wheel.cancel(4), "");
}

TEST(TimerWheel, FireCanRearmItsOwnTimerForLater) {
  // A periodic timer: each firing re-arms for deadline + 7. Advancing in uneven steps, some of
  // several periods, every period up to `now` fires once, in order (timer_wheel.h: a re-armed timer
  // that is already due fires again in the same call).
  TimerWheel wheel(2, /*tick_ms=*/10, 0);
  wheel.schedule(0, 0, 7);
  std::vector<int64_t> deadlines;
  int64_t now = 0;
  std::mt19937_64 rng(3);
  while (now < 5000) {
    now += 1 + static_cast<int64_t>(rng() % 40);
    wheel.advance(now, [&](uint32_t id, uint64_t cookie, int64_t deadline) {
      deadlines.push_back(deadline);
      wheel.schedule(id, cookie + 1, deadline + 7);
    });
    ASSERT_FALSE(deadlines.empty() && deadlines.back() > now) << "fired early";
    ASSERT_EQ(deadlines.size(), static_cast<size_t>(now / 7)) << "at " << now;
  }
  for (size_t k = 0; k < deadlines.size(); ++k) EXPECT_EQ(deadlines[k], 7 * int64_t(k + 1));
}

TEST(TimerWheel, FireCanArmAnotherTimerForLater) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  wheel.schedule(0, 0, 50);
  wheel.advance(50, [&](uint32_t, uint64_t, int64_t) { wheel.schedule(1, 9, 75); });
  EXPECT_TRUE(wheel.armed(1));
  EXPECT_TRUE(advance_and_collect(wheel, 74).empty());
  EXPECT_EQ(advance_and_collect(wheel, 75), (std::vector<Fired>{{1, 9, 75}}));
}

TEST(TimerWheel, FireCanCancelATimerThatIsDueInTheSameCall) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  wheel.schedule(0, 0, 20);
  wheel.schedule(1, 0, 20);
  std::vector<uint32_t> fired;
  wheel.advance(30, [&](uint32_t id, uint64_t, int64_t) {
    fired.push_back(id);
    wheel.cancel(1 - id);  // whichever fires first cancels the other
  });
  EXPECT_EQ(fired.size(), 1u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, FireCanCancelATimerNotYetDueInTheSameBucket) {
  TimerWheel wheel(4, /*tick_ms=*/10, 0);
  wheel.schedule(0, 0, 5);
  wheel.schedule(1, 0, 8);
  wheel.advance(5, [&](uint32_t, uint64_t, int64_t) { wheel.cancel(1); });
  EXPECT_FALSE(wheel.armed(1)) << "cancelled from fire() but armed again afterwards";
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_TRUE(advance_and_collect(wheel, 100).empty()) << "a cancelled timer fired";
}

TEST(TimerWheel, FireCanCancelATimerInALaterRevolution) {
  // Same bucket as above, but the set-aside timer is a revolution out (tick 1 ms).
  TimerWheel wheel(4, /*tick_ms=*/1, 0);
  wheel.schedule(0, 0, 5);
  wheel.schedule(1, 0, 5 + kRevolutionTicks);
  wheel.advance(5, [&](uint32_t id, uint64_t, int64_t) {
    if (id == 0) wheel.cancel(1);
  });
  EXPECT_FALSE(wheel.armed(1));
  EXPECT_TRUE(advance_and_collect(wheel, 10 + kRevolutionTicks).empty())
      << "a cancelled timer fired";
}

TEST(TimerWheel, FireCanArmAnotherTimerWithAPastDeadline) {
  TimerWheel wheel(4, /*tick_ms=*/1, 0);
  wheel.schedule(0, 0, 50);
  std::vector<uint32_t> fired;
  auto record = [&](uint32_t id, uint64_t, int64_t) {
    fired.push_back(id);
    if (id == 0) wheel.schedule(1, 0, 10);
  };
  wheel.advance(100, record);
  wheel.advance(101, record);
  EXPECT_EQ(fired, (std::vector<uint32_t>{0, 1}))
      << "a timer armed from fire() for a past deadline did not fire by the next advance";
}

TEST(TimerWheel, JumpOfSeveralRevolutionsFiresEverythingDueExactlyOnce) {
  constexpr int64_t kTickMs = 10;
  constexpr uint32_t kTimers = 5000;
  const int64_t revolution_ms = kRevolutionTicks * kTickMs;
  TimerWheel wheel(kTimers, kTickMs, kStartMs);
  std::mt19937_64 rng(4);
  std::vector<int64_t> deadline(kTimers);
  for (uint32_t id = 0; id < kTimers; ++id) {
    deadline[id] = kStartMs + static_cast<int64_t>(rng() % (6 * revolution_ms));
    wheel.schedule(id, id, deadline[id]);
  }
  // One jump of 3.5 revolutions, then small steps to the end.
  std::vector<int> fire_count(kTimers, 0);
  int64_t now = kStartMs + 3 * revolution_ms + revolution_ms / 2;
  for (const Fired& f : advance_and_collect(wheel, now)) {
    ++fire_count[f.id];
    EXPECT_LE(f.deadline_ms, now);
  }
  for (uint32_t id = 0; id < kTimers; ++id) {
    EXPECT_EQ(fire_count[id], deadline[id] <= now ? 1 : 0) << "timer " << id;
  }
  while (now < kStartMs + 6 * revolution_ms + kTickMs) {
    now += 1 + static_cast<int64_t>(rng() % (3 * kTickMs));
    for (const Fired& f : advance_and_collect(wheel, now)) {
      ++fire_count[f.id];
      EXPECT_LE(deadline[f.id], now) << "early";
      EXPECT_LE(now - deadline[f.id], 3 * kTickMs) << "late";
    }
  }
  for (uint32_t id = 0; id < kTimers; ++id) EXPECT_EQ(fire_count[id], 1) << "timer " << id;
  EXPECT_EQ(wheel.size(), 0u);
}

// The wheel against a std::map model (id -> cookie, deadline) under random arming, re-arming,
// cancelling and advancing by steps from 0 to several revolutions; fire() itself re-arms
// timers (its own or another id's) for later deadlines. Every fire() must be of an armed timer
// that is due; after every advance no due timer may be left armed.
TEST(TimerWheel, MatchesAMapModelUnderRandomOperations) {
  struct Armed {
    uint64_t cookie;
    int64_t deadline_ms;
  };
  for (int64_t tick_ms : {1, 7, 10}) {
    SCOPED_TRACE(tick_ms);
    constexpr uint32_t kIds = 64;
    std::mt19937_64 rng(static_cast<uint64_t>(tick_ms));
    int64_t now = kStartMs;
    TimerWheel wheel(kIds, tick_ms, now);
    std::map<uint32_t, Armed> model;
    uint64_t next_cookie = 1;
    auto random_deadline = [&](int64_t from) {
      switch (rng() % 4) {
        case 0:
          return from - static_cast<int64_t>(rng() % 100);  // past
        case 1:
          return from + static_cast<int64_t>(rng() % (10 * tick_ms));  // soon
        case 2:
          return from + static_cast<int64_t>(rng() % (kRevolutionTicks * tick_ms));
        default:
          return from + static_cast<int64_t>(rng() % (3 * kRevolutionTicks * tick_ms));
      }
    };
    for (int step = 0; step < 20000; ++step) {
      const uint64_t op = rng() % 10;
      if (op < 4) {
        const uint32_t id = static_cast<uint32_t>(rng() % kIds);
        const Armed armed{next_cookie++, random_deadline(now)};
        wheel.schedule(id, armed.cookie, armed.deadline_ms);
        model[id] = armed;
      } else if (op < 5) {
        const uint32_t id = static_cast<uint32_t>(rng() % kIds);
        wheel.cancel(id);
        model.erase(id);
      } else {
        switch (rng() % 5) {
          case 0:
            break;  // same now
          case 1:
            now += static_cast<int64_t>(rng() % tick_ms) + 1;
            break;
          case 2:
            now += static_cast<int64_t>(rng() % (20 * tick_ms));
            break;
          case 3:
            now += static_cast<int64_t>(rng() % (kRevolutionTicks * tick_ms));
            break;
          default:
            now += static_cast<int64_t>(rng() % (5 * kRevolutionTicks * tick_ms));
            break;
        }
        uint32_t calls = 0;
        const uint32_t returned =
            wheel.advance(now, [&](uint32_t id, uint64_t cookie, int64_t deadline) {
              ++calls;
              auto it = model.find(id);
              ASSERT_NE(it, model.end()) << "fired timer " << id << " that is not armed";
              ASSERT_EQ(cookie, it->second.cookie) << "fired a replaced timer of id " << id;
              ASSERT_EQ(deadline, it->second.deadline_ms);
              ASSERT_LE(deadline, now) << "fired early";
              model.erase(it);
              if (rng() % 4 == 0) {
                // Re-arm this id or another for a deadline that is not yet due.
                const uint32_t target = rng() % 2 ? id : static_cast<uint32_t>(rng() % kIds);
                const Armed armed{
                    next_cookie++,
                    now + 1 + static_cast<int64_t>(rng() % (2 * kRevolutionTicks * tick_ms))};
                wheel.schedule(target, armed.cookie, armed.deadline_ms);
                model[target] = armed;
              }
            });
        ASSERT_EQ(returned, calls);
        for (const auto& [id, armed] : model) {
          ASSERT_GT(armed.deadline_ms, now) << "timer " << id << " due at " << armed.deadline_ms
                                            << " not fired by advance(" << now << ")";
        }
      }
      ASSERT_EQ(wheel.size(), model.size()) << "step " << step;
      for (uint32_t id = 0; id < kIds; ++id) {
        ASSERT_EQ(wheel.armed(id), model.count(id) == 1) << "id " << id << " step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace boxoffice
