//! The production clock and random source.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use rand::{Rng, RngCore};

use crate::otp::ports::{Clock, EpochSeconds, RandomSource};

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochSeconds {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// The operating system's CSPRNG (`getrandom`), sampled without modulo bias.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn digits(&self, len: usize) -> String {
        (0..len).map(|_| char::from(b'0' + OsRng.gen_range(0..10u8))).collect()
    }

    fn identifier(&self) -> String {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_have_the_requested_length_and_only_digits() {
        for len in [4, 6, 10] {
            let digits = OsRandom.digits(len);
            assert_eq!(digits.len(), len);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
        }
    }

    #[test]
    fn digits_are_roughly_uniform() {
        // 60,000 digits: each of the ten should appear 6,000 times; a biased or stuck
        // generator lands far outside +/- 8% (more than ten standard deviations).
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            for b in OsRandom.digits(6).bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        for (digit, count) in counts.iter().enumerate() {
            assert!((5_520..=6_480).contains(count), "digit {digit} came {count} times");
        }
    }

    #[test]
    fn identifiers_are_128_bit_hex_and_distinct() {
        let a = OsRandom.identifier();
        let b = OsRandom.identifier();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now() > 1_704_067_200);
    }
}
