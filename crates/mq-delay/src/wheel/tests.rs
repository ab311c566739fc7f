//! Unit tests of the timing wheel: cascading across levels, ties, far-future items, big jumps.

use super::*;

const TICK: u64 = 10;
const START: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;

/// The due time `ticks` ticks (plus `extra_ms`) after the start.
fn at(ticks: i64, extra_ms: i64) -> i64 {
    START + ticks * TICK as i64 + extra_ms
}

/// An item placed `due_ticks` ticks (plus `extra_ms`) after a wheel already advanced
/// `from_ticks` ticks is handed out neither a millisecond early nor late, and only once.
fn check(from_ticks: i64, due_ticks: i64, extra_ms: i64) {
    let mut wheel = TimingWheel::new(TICK, START);
    assert!(wheel.advance(at(from_ticks, 0)).is_empty());
    let due = at(from_ticks + due_ticks, extra_ms);
    wheel.insert(due, "x");
    assert_eq!(wheel.len(), 1);
    let hint = wheel.next_due_hint().unwrap();
    assert!(hint <= due, "hint {hint} after due {due}");
    assert!(
        wheel.advance(due - 1).is_empty(),
        "early: from {from_ticks} due {due_ticks} ticks +{extra_ms} ms"
    );
    assert_eq!(
        wheel.advance(due),
        vec![(due, "x")],
        "late: from {from_ticks} due {due_ticks} ticks +{extra_ms} ms"
    );
    assert!(wheel.is_empty());
    assert!(wheel.advance(due + 10 * DAY_MS).is_empty());
}

#[test]
fn items_cascade_down_the_levels_and_fire_on_time() {
    let l1 = 64;
    let l2 = 64 * 64;
    let l3 = 64 * 64 * 64;
    let l4 = l3 * 64;
    let dues = [
        1,
        2,
        63,
        64,
        65,
        127,
        128,
        l2 - 1,
        l2,
        l2 + 1,
        l2 + l1 + 1,
        l3 - 1,
        l3,
        l3 + 1,
        2 * l3 + 5,
        l4 - 1,
        l4,
        l4 + 1,
        3 * l4 + l2 + 7,
        64 * l4 + 1,
    ];
    // Wheels at tick 0 and at ticks that are not aligned to any slot boundary, so items land
    // in slots whose digits differ from the current tick's in different places.
    for from in [0, 1, 37, l1 + 3, l2 - 2, l3 + l2 + 17, l4 - 5] {
        for due in dues {
            for extra in [0, 3, 9] {
                check(from, due, extra);
            }
        }
    }
}

#[test]
fn an_item_due_within_the_current_tick_waits_for_its_millisecond() {
    let mut wheel = TimingWheel::new(TICK, START);
    wheel.insert(START + 15, 'a');
    wheel.insert(START + 11, 'b');
    assert!(wheel.advance(START + 10).is_empty());
    assert_eq!(wheel.advance(START + 12), vec![(START + 11, 'b')]);
    assert!(wheel.advance(START + 14).is_empty());
    assert_eq!(wheel.advance(START + 15), vec![(START + 15, 'a')]);
}

#[test]
fn items_due_at_one_instant_fire_together_in_insertion_order() {
    let mut wheel = TimingWheel::new(TICK, START);
    let due = START + 90_000;
    for i in 0..1_000 {
        wheel.insert(due, i);
    }
    wheel.insert(due - 1, -1);
    assert!(wheel.advance(due - 2).is_empty());
    assert_eq!(wheel.advance(due - 1), vec![(due - 1, -1)]);
    let fired = wheel.advance(due);
    assert_eq!(fired.len(), 1_000);
    assert!(fired.iter().map(|(_, i)| *i).eq(0..1_000));
    assert!(fired.iter().all(|(d, _)| *d == due));
    assert!(wheel.is_empty());
}

#[test]
fn far_future_items_wait_in_overflow_until_their_day() {
    let dues = [DAY_MS, 2 * DAY_MS + 1, 5 * DAY_MS - 3, 30 * DAY_MS, 30 * DAY_MS + 7, 400 * DAY_MS];
    let mut wheel = TimingWheel::new(TICK, START);
    for (i, due) in dues.iter().enumerate().rev() {
        wheel.insert(START + due, i);
    }
    // Hour by hour for 31 days: each item fires at the first hour at or after its due time.
    let hour = 3_600_000;
    let mut fired = Vec::new();
    for h in 1..=31 * 24 {
        let now = START + h * hour;
        for (due, i) in wheel.advance(now) {
            assert!(due <= now && due > now - hour, "item {i} due {due} fired at {now}");
            fired.push(i);
        }
    }
    assert_eq!(fired, vec![0, 1, 2, 3, 4]);
    assert_eq!(wheel.len(), 1);
    assert!(wheel.advance(START + 400 * DAY_MS - 1).is_empty());
    assert_eq!(wheel.advance(START + 400 * DAY_MS), vec![(START + 400 * DAY_MS, 5)]);
}

/// A small deterministic generator, so the tests need no random-number crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: i64) -> i64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as i64
    }
}

/// Advances a wheel through `steps` (times, increasing) and checks each batch against a plain
/// list: exactly the items due after the previous time and by this one, in due order.
fn run_against_model(dues: &[i64], steps: &[i64]) -> Vec<(i64, usize)> {
    let mut wheel = TimingWheel::new(TICK, START);
    for (i, due) in dues.iter().enumerate() {
        wheel.insert(*due, i);
    }
    let mut model: Vec<(i64, usize)> = dues.iter().copied().zip(0..).collect();
    model.sort();
    let mut all = Vec::new();
    let mut prev = i64::MIN;
    for &now in steps {
        let expected: Vec<_> =
            model.iter().copied().filter(|(due, _)| *due > prev && *due <= now).collect();
        let got = wheel.advance(now);
        assert_eq!(got, expected, "advance to {now} after {prev}");
        all.extend(got);
        prev = prev.max(now);
    }
    all
}

#[test]
fn small_steps_and_one_jump_fire_the_same_items_in_the_same_order() {
    let mut rng = Lcg(7);
    let span = 3 * 3_600_000; // three hours
    let dues: Vec<i64> = (0..5_000).map(|_| START + rng.next(span)).collect();
    let mut steps = Vec::new();
    let mut now = START;
    while now < START + span + 1 {
        now += 1 + rng.next(20_000);
        steps.push(now);
    }
    let stepped = run_against_model(&dues, &steps);
    let jumped = run_against_model(&dues, &[START + span + 1]);
    assert_eq!(stepped.len(), dues.len());
    assert_eq!(stepped, jumped);
}

#[test]
fn hours_and_days_pass_in_one_advance() {
    let mut rng = Lcg(11);
    let dues: Vec<i64> = (0..2_000).map(|_| START + rng.next(40 * DAY_MS)).collect();
    let fired =
        run_against_model(&dues, &[START + 6 * 3_600_000, START + 3 * DAY_MS, START + 41 * DAY_MS]);
    assert_eq!(fired.len(), dues.len());
}

#[test]
fn items_fire_in_due_order_whatever_the_insertion_order() {
    let dues = [
        START + 700_000,
        START + 5,
        START + 64 * 10 + 1,
        START + 650,
        START + 40_960,
        START + 2,
        START + 699_999,
    ];
    let mut wheel = TimingWheel::new(TICK, START);
    for (i, due) in dues.iter().enumerate() {
        wheel.insert(*due, i);
    }
    let order: Vec<usize> = wheel.advance(START + 1_000_000).into_iter().map(|(_, i)| i).collect();
    assert_eq!(order, vec![5, 1, 2, 3, 4, 6, 0]);
}

#[test]
fn an_item_inserted_in_the_past_fires_at_the_next_advance() {
    let mut wheel = TimingWheel::new(TICK, START);
    let now = START + 123_456;
    assert!(wheel.advance(now).is_empty());
    wheel.insert(now - 5_000, "late");
    wheel.insert(START - DAY_MS, "before the start");
    wheel.insert(now, "now");
    assert_eq!(wheel.next_due_hint(), Some(START + 123_450));
    assert_eq!(
        wheel.advance(now),
        vec![(START - DAY_MS, "before the start"), (now - 5_000, "late"), (now, "now")]
    );
    // A clock that went back does not lose items either.
    wheel.insert(now - 1, "after a step back");
    assert_eq!(wheel.advance(now - 100), vec![]);
    assert_eq!(wheel.advance(now + 1), vec![(now - 1, "after a step back")]);
}

#[test]
fn len_and_hint_follow_the_contents() {
    let mut wheel = TimingWheel::new(TICK, START);
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_due_hint(), None);
    wheel.insert(START + 5_000_005, 1);
    wheel.insert(START + 100, 2);
    assert_eq!(wheel.len(), 2);
    assert_eq!(wheel.next_due_hint(), Some(START + 100));
    assert_eq!(wheel.advance(START + 100).len(), 1);
    let hint = wheel.next_due_hint().unwrap();
    assert!(hint > START + 100 && hint <= START + 5_000_005, "{hint}");
    assert_eq!(wheel.advance(START + 5_000_005).len(), 1);
    assert_eq!((wheel.len(), wheel.next_due_hint()), (0, None));
}
