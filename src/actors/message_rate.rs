//! This node's rate of stored messages, for `/api/admin/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Messages stored per second over the last minute: 60 one-second buckets, each stamped with its
/// second, so reading and counting are a few atomic operations and nothing grows.
pub(super) struct MessageRate {
    seconds: [AtomicU64; 60],
    counts: [AtomicU64; 60],
}

impl Default for MessageRate {
    fn default() -> Self {
        Self { seconds: std::array::from_fn(|_| AtomicU64::new(0)), counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl MessageRate {
    pub(super) fn note(&self, second: i64) {
        let second = u64::try_from(second).unwrap_or_default();
        let slot = usize::try_from(second % 60).unwrap_or_default();
        if self.seconds[slot].swap(second, Ordering::AcqRel) != second {
            // A new second took this bucket over; a racing count from the old second may be lost.
            self.counts[slot].store(0, Ordering::Release);
        }
        self.counts[slot].fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn last_minute(&self, now: i64) -> u64 {
        let now = u64::try_from(now).unwrap_or_default();
        (0..60)
            .filter(|&slot| now.saturating_sub(self.seconds[slot].load(Ordering::Acquire)) < 60)
            .map(|slot| self.counts[slot].load(Ordering::Acquire))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::MessageRate;

    #[test]
    fn the_rate_counts_the_last_minute_only() {
        let rate = MessageRate::default();
        for second in [1_000, 1_000, 1_030, 1_059] {
            rate.note(second);
        }
        assert_eq!(rate.last_minute(1_059), 4);
        assert_eq!(rate.last_minute(1_060), 2, "second 1000 is a minute old");
        rate.note(1_060); // takes over the bucket of second 1000
        assert_eq!(rate.last_minute(1_060), 3);
        assert_eq!(rate.last_minute(1_200), 0);
    }
}
