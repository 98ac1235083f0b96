//! Time as the OTP policy counts it: seconds since the Unix epoch, the fixed windows the
//! send limits count in, and the ten-minute buckets of the breaker's rolling hour.

/// Seconds since the Unix epoch.
pub type EpochSeconds = u64;

/// Length of the fixed windows the hourly limits count in.
pub const HOUR: u64 = 3600;

/// Length of the fixed windows the daily limits count in.
pub const DAY: u64 = 86_400;

/// Length of one breaker bucket.
pub const BUCKET_SECONDS: u64 = 600;

/// Buckets in the breaker's rolling window: the current one and those before it.
pub const BUCKETS: u64 = 6;

/// The start of the fixed window of `length` seconds that `now` falls in.
pub const fn window_start(now: EpochSeconds, length: u64) -> EpochSeconds {
    now - now % length
}

/// The start of the bucket `now` falls in.
pub const fn bucket_of(now: EpochSeconds) -> EpochSeconds {
    window_start(now, BUCKET_SECONDS)
}

/// The starts of the buckets of the rolling window at `now`, newest first: a send counts
/// for at least 50 and less than 60 minutes, so nothing resets on the hour.
pub fn window(now: EpochSeconds) -> Vec<EpochSeconds> {
    let current = bucket_of(now);
    (0..BUCKETS).filter_map(|back| current.checked_sub(back * BUCKET_SECONDS)).collect()
}

/// When a bucket's tally may be forgotten: once no window includes it.
pub const fn bucket_expiry(bucket: EpochSeconds) -> EpochSeconds {
    bucket + BUCKETS * BUCKET_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A send counts in every window evaluated during the 50 minutes after it and in
        /// none from an hour after it: no hour boundary resets the tally, and it forgets.
        #[test]
        fn a_send_counts_for_at_least_fifty_minutes_and_under_an_hour(
            sent_at in 3600u64..100_000_000,
            later in 0u64..7200,
        ) {
            let bucket = bucket_of(sent_at);
            let counted = window(sent_at + later).contains(&bucket);
            if later < (BUCKETS - 1) * BUCKET_SECONDS {
                prop_assert!(counted, "dropped after {later} s");
            }
            if later >= BUCKETS * BUCKET_SECONDS {
                prop_assert!(!counted, "still counted after {later} s");
            }
            prop_assert!(bucket_expiry(bucket) > sent_at + later || !counted);
        }

        /// The windows of two instants a second apart share all but at most one bucket: the
        /// tally moves by one bucket at a time, never by a reset.
        #[test]
        fn consecutive_windows_overlap(now in 3600u64..100_000_000) {
            let (before, after) = (window(now), window(now + 1));
            let shared = before.iter().filter(|bucket| after.contains(bucket)).count();
            prop_assert!(shared >= (BUCKETS - 1) as usize);
        }
    }
}
