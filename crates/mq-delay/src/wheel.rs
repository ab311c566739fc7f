//! A hierarchical timing wheel: a pure data structure that holds items until their due time and
//! hands them back, in due order, when time is advanced past it. It has no clock and no tasks;
//! the scheduler advances it.
//!
//! Time is counted in ticks from the wheel's start. Level 0 has 64 slots of one tick; a slot of
//! level `k` spans `64^k` ticks. An item lives on the level of the highest base-64 digit in
//! which its due tick differs from the wheel's current tick, in the slot named by that digit, so
//! every item on level `k` shares the current tick's digits above `k`. When time reaches the
//! start of an occupied slot of a higher level, the slot is emptied and its items are inserted
//! again, landing on lower levels ("cascading"). Items whose due tick differs above the top
//! level wait in an overflow list that is re-examined when time reaches the range they belong
//! to. Advancing jumps straight from one occupied slot to the next, so an advance of hours costs
//! as much as the slots it passes that hold items, not one step per tick.

use std::fmt;

/// Slots per level.
const SLOTS: usize = 64;
/// Bits of a tick per level: `64 = 1 << 6`.
const BITS: u32 = 6;
/// Levels of the wheel: `64^4` ticks, 46.6 hours of 10 ms ticks. Later items wait in the
/// overflow list; the scheduler loads only a short horizon ahead, so that list stays small.
const LEVELS: usize = 4;

/// An item with its due time and its place in insertion order, which breaks ties in due time.
struct Entry<T> {
    due_ms: i64,
    tick: u64,
    seq: u64,
    item: T,
}

/// One ring of 64 slots and a bit per slot telling whether it holds anything.
struct Level<T> {
    slots: Vec<Vec<Entry<T>>>,
    occupied: u64,
}

impl<T> Level<T> {
    fn new() -> Self {
        Self { slots: (0..SLOTS).map(|_| Vec::new()).collect(), occupied: 0 }
    }
}

/// A hierarchical timing wheel of items of type `T`; see the module docs.
pub struct TimingWheel<T> {
    tick_ms: i64,
    start_ms: i64,
    /// The current tick: every item due in an earlier tick has been handed out.
    elapsed: u64,
    levels: Vec<Level<T>>,
    /// Items too far ahead for the top level, and the earliest tick among them.
    overflow: Vec<Entry<T>>,
    overflow_min: Option<u64>,
    len: usize,
    next_seq: u64,
}

impl<T> fmt::Debug for TimingWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingWheel")
            .field("tick_ms", &self.tick_ms)
            .field("start_ms", &self.start_ms)
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .field("overflow", &self.overflow.len())
            .finish()
    }
}

/// Where the next slot to process starts, and which one it is.
#[derive(Clone, Copy)]
enum Next {
    /// A slot of a level: (level, slot index).
    Slot(usize, usize),
    /// The overflow list.
    Overflow,
}

impl<T> TimingWheel<T> {
    /// An empty wheel of `tick_ms` ticks (at least 1) whose time starts at `start_ms`.
    pub fn new(tick_ms: u64, start_ms: i64) -> Self {
        let tick_ms = i64::try_from(tick_ms).unwrap_or(i64::MAX).max(1);
        Self {
            tick_ms,
            start_ms,
            elapsed: 0,
            levels: (0..LEVELS).map(|_| Level::new()).collect(),
            overflow: Vec::new(),
            overflow_min: None,
            len: 0,
            next_seq: 0,
        }
    }

    /// How many items the wheel holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the wheel holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an item due at `due_ms`. An item already due (or due before the wheel's current
    /// tick) goes to the current tick, so the next [`advance`](Self::advance) hands it out.
    pub fn insert(&mut self, due_ms: i64, item: T) {
        let tick = self.tick_of(due_ms).max(self.elapsed);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.len += 1;
        self.place(Entry { due_ms, tick, seq, item });
    }

    /// Moves time to `now_ms` and returns every item due at or before it, earliest first (ties
    /// in insertion order). Time never goes back: a `now_ms` before the last one only hands out
    /// items of the current tick that are due by then.
    pub fn advance(&mut self, now_ms: i64) -> Vec<(i64, T)> {
        let target = self.tick_of(now_ms).max(self.elapsed);
        let mut out = Vec::new();
        while let Some((start, next)) = self.next_slot() {
            if start > target {
                break;
            }
            // Slots of this level lie wholly in the past except, on level 0, the target tick,
            // which may hold items due later within the tick.
            self.elapsed = self.elapsed.max(start);
            match next {
                Next::Overflow => self.reexamine_overflow(),
                Next::Slot(0, slot) if start == target => {
                    let level = &mut self.levels[0];
                    let (due, later) = std::mem::take(&mut level.slots[slot])
                        .into_iter()
                        .partition::<Vec<_>, _>(|entry| entry.due_ms <= now_ms);
                    if later.is_empty() {
                        level.occupied &= !(1 << slot);
                    }
                    level.slots[slot] = later;
                    out.extend(due);
                    break;
                }
                Next::Slot(0, slot) => out.extend(self.take_slot(0, slot)),
                Next::Slot(level, slot) => {
                    for entry in self.take_slot(level, slot) {
                        self.place(entry);
                    }
                }
            }
        }
        self.elapsed = target;
        self.len -= out.len();
        out.sort_by_key(|entry| (entry.due_ms, entry.seq));
        out.into_iter().map(|entry| (entry.due_ms, entry.item)).collect()
    }

    /// A lower bound of the earliest due time of the items held, in milliseconds: the start of
    /// the next occupied slot (of the current tick at the earliest); `None` when empty.
    pub fn next_due_hint(&self) -> Option<i64> {
        let (start, _) = self.next_slot()?;
        let ticks = i64::try_from(start.max(self.elapsed)).unwrap_or(i64::MAX);
        Some(self.start_ms.saturating_add(ticks.saturating_mul(self.tick_ms)))
    }

    /// The tick a time falls in, counted from the start; times before the start fall in tick 0.
    fn tick_of(&self, ms: i64) -> u64 {
        let since = i128::from(ms) - i128::from(self.start_ms);
        u64::try_from(since.div_euclid(i128::from(self.tick_ms))).unwrap_or(0)
    }

    /// Puts an entry on the level of the highest digit where its tick differs from `elapsed`.
    fn place(&mut self, entry: Entry<T>) {
        let differ = (entry.tick ^ self.elapsed) | (SLOTS as u64 - 1);
        let level = ((63 - differ.leading_zeros()) / BITS) as usize;
        if level >= LEVELS {
            self.overflow_min = Some(self.overflow_min.map_or(entry.tick, |m| m.min(entry.tick)));
            self.overflow.push(entry);
            return;
        }
        let slot = slot_of(entry.tick, level);
        let ring = &mut self.levels[level];
        ring.occupied |= 1 << slot;
        ring.slots[slot].push(entry);
    }

    /// Empties a slot and clears its bit.
    fn take_slot(&mut self, level: usize, slot: usize) -> Vec<Entry<T>> {
        let ring = &mut self.levels[level];
        ring.occupied &= !(1 << slot);
        std::mem::take(&mut ring.slots[slot])
    }

    /// Moves the overflow items that now fit under the top level into the levels.
    fn reexamine_overflow(&mut self) {
        let (fit, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.overflow)
            .into_iter()
            .partition(|entry| (entry.tick ^ self.elapsed) >> (BITS * LEVELS as u32) == 0);
        self.overflow_min = wait.iter().map(|entry| entry.tick).min();
        self.overflow = wait;
        for entry in fit {
            self.place(entry);
        }
    }

    /// The occupied slot (or the overflow range) that starts earliest, with its start tick.
    /// Slots of different levels never start at the same tick while items sit where `place`
    /// put them; should they, the higher level wins, so that its items cascade before a
    /// level-0 slot of that tick is emptied.
    fn next_slot(&self) -> Option<(u64, Next)> {
        let mut best = self.overflow_min.map(|tick| (range_start(tick, LEVELS), Next::Overflow));
        for (level, ring) in self.levels.iter().enumerate().rev() {
            // Items on a level share the current tick's higher digits and have a digit at
            // least the current one on this level, so the search never wraps around.
            let from = slot_of(self.elapsed, level);
            let ahead = ring.occupied & (u64::MAX << from);
            if ahead == 0 {
                continue;
            }
            let slot = ahead.trailing_zeros() as usize;
            let span_bits = BITS * (level as u32 + 1);
            let base = (self.elapsed >> span_bits) << span_bits;
            let start = base + ((slot as u64) << (BITS * level as u32));
            if best.is_none_or(|(earliest, _)| start < earliest) {
                best = Some((start, Next::Slot(level, slot)));
            }
        }
        best
    }
}

/// The slot of `tick` on `level`: its base-64 digit there.
fn slot_of(tick: u64, level: usize) -> usize {
    ((tick >> (BITS * level as u32)) & (SLOTS as u64 - 1)) as usize
}

/// The first tick of the block of `64^levels` ticks that `tick` falls in.
fn range_start(tick: u64, levels: usize) -> u64 {
    let bits = BITS * levels as u32;
    (tick >> bits) << bits
}

#[cfg(test)]
mod tests;
