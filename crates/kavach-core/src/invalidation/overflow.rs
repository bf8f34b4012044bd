//! The coarser scope a bounded store falls back to when it must let go of an entry that still
//! matters (a live revocation, a session's state): a fixed table of slots indexed by a keyed
//! hash of the id, each holding the latest expiry of anything dropped into it. An id whose slot
//! is live is treated as dropped (refused), so nothing is forgotten early; the price is that
//! ids sharing a slot with a dropped one are refused too, only ids of the overflowing kind, and
//! only in proportion to how many were dropped (`dropped / SLOTS`).
//!
//! The table is allocated on the first drop (1 MiB), so stores that never overflow pay nothing.
//! The hash key is random per table: a caller cannot aim its ids at one slot of a victim.

use ahash::RandomState;

/// Slots per table. 2^18 keeps false refusals under 0.4 % per 1,000 dropped ids.
pub const SLOTS: usize = 1 << 18;

#[derive(Debug)]
pub struct OverflowSlots {
    hasher: RandomState,
    /// Expiry per slot, unix seconds rounded up (0 = empty); allocated on first use.
    until_secs: Option<Box<[u32]>>,
    dropped: u64,
}

impl Default for OverflowSlots {
    fn default() -> Self {
        Self::new()
    }
}

impl OverflowSlots {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            until_secs: None,
            dropped: 0,
        }
    }

    fn slot(&self, id: &str) -> usize {
        // The modulo keeps the value below SLOTS, so the cast cannot truncate.
        (self.hasher.hash_one(id) % SLOTS as u64) as usize
    }

    /// Remember that `id` was dropped while it mattered until `until_ms`.
    pub fn drop_id(&mut self, id: &str, until_ms: i64) {
        let i = self.slot(id);
        let secs =
            u32::try_from(until_ms.saturating_add(999).div_euclid(1000).max(1)).unwrap_or(u32::MAX);
        let slots = self
            .until_secs
            .get_or_insert_with(|| vec![0u32; SLOTS].into_boxed_slice());
        slots[i] = slots[i].max(secs);
        self.dropped = self.dropped.saturating_add(1);
    }

    /// Until when (ms) `id`'s slot holds a dropped entry, if it still does at `now_ms`.
    pub fn live_until(&self, id: &str, now_ms: i64) -> Option<i64> {
        let slots = self.until_secs.as_ref()?;
        let until_ms = i64::from(slots[self.slot(id)]).saturating_mul(1000);
        (until_ms > now_ms).then_some(until_ms)
    }

    /// Entries dropped into the table so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether two ids share a slot (tests pick ids that do not).
    pub fn same_slot(&self, a: &str, b: &str) -> bool {
        self.slot(a) == self.slot(b)
    }
}

/// The longest prefix of `s` within `max` bytes, cut on a character boundary (reasons that
/// quote a caller's field are kept short).
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The text of a refusal for an id whose slot holds a dropped entry.
pub fn refused_text(what: &str, limit: &str, until_ms: i64) -> String {
    let until = chrono::DateTime::from_timestamp_millis(until_ms)
        .map_or_else(|| until_ms.to_string(), |t| t.to_rfc3339());
    format!(
        "{what} may have been dropped when {limit} was reached, so it is refused until {until} (only ids that share its overflow slot are affected)"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn empty_until_the_first_drop_then_live_until_the_expiry() {
        let mut t = OverflowSlots::new();
        assert_eq!(t.live_until("a", 0), None);
        assert!(t.until_secs.is_none());
        t.drop_id("a", 10_500);
        assert_eq!(t.live_until("a", 10_999), Some(11_000));
        assert_eq!(t.live_until("a", 11_000), None);
        assert_eq!(t.dropped(), 1);
        // A later, shorter drop into the same slot never shortens it.
        t.drop_id("a", 2_000);
        assert_eq!(t.live_until("a", 10_000), Some(11_000));
    }

    #[test]
    fn other_ids_are_unaffected_unless_they_share_the_slot() {
        let mut t = OverflowSlots::new();
        for i in 0..1000 {
            t.drop_id(&format!("flood{i}"), 100_000);
        }
        let refused = (0..10_000)
            .filter(|i| t.live_until(&format!("good{i}"), 0).is_some())
            .count();
        // 1000 drops over 2^18 slots: about 0.4 % of other ids share a slot.
        assert!(refused < 150, "{refused}");
    }
}
