//! Fixed rate windows: a window starts at the first request after the previous one ended and
//! lasts `rateLimitWindow` minutes. The window itself lives in Redis (verify.lua); this is
//! the arithmetic for showing it.

/// Whole seconds left until `end_ms`, rounded up so a client that waits that long finds the
/// window over; `None` when it has already ended.
pub fn remaining_secs(end_ms: i64, now_ms: i64) -> Option<u64> {
    let left_ms = end_ms.checked_sub(now_ms)?;
    (left_ms > 0).then(|| (left_ms as u64).div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_rounds_up_and_ends() {
        assert_eq!(remaining_secs(61_000, 1_000), Some(60));
        assert_eq!(remaining_secs(61_000, 60_001), Some(1));
        assert_eq!(remaining_secs(61_000, 60_999), Some(1));
        assert_eq!(remaining_secs(61_000, 61_000), None);
        assert_eq!(remaining_secs(61_000, 70_000), None);
    }
}
