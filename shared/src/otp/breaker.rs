//! The conversion breaker: real users who get a code mostly type it in, pumped numbers
//! never do. Sends and verifications are tallied per destination prefix and per country
//! in ten-minute buckets; when, over the last hour, a prefix or a country has had enough
//! sends and too few of them verified, new sends to it are refused for a while.
//!
//! The rolling hour is [`window`](super::time::window): the bucket of `now` and the five before it.

use std::fmt;
use std::str::FromStr;

use super::time::EpochSeconds;
use crate::phone::PhoneNumber;

/// What the breaker does when a destination's conversion is too low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BreakerMode {
    /// Refuses new sends to it.
    #[default]
    Enforce,
    /// Decides and logs (`otp.would_refuse`), refuses nothing.
    Monitor,
    /// Neither tallies nor decides.
    Off,
}

impl FromStr for BreakerMode {
    type Err = String;

    fn from_str(mode: &str) -> Result<Self, Self::Err> {
        match mode.trim().to_ascii_lowercase().as_str() {
            "enforce" => Ok(Self::Enforce),
            "monitor" => Ok(Self::Monitor),
            "off" => Ok(Self::Off),
            _ => Err("must be enforce, monitor or off".into()),
        }
    }
}

/// A share between 0 and 1, kept in ten-thousandths so that settings compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ratio(u32);

impl Ratio {
    const SCALE: u64 = 10_000;

    /// `numerator / denominator`, rounded down (0 when `denominator` is 0).
    pub fn of(numerator: u64, denominator: u64) -> Self {
        let scaled = (numerator * Self::SCALE).checked_div(denominator).unwrap_or(0);
        Self(scaled.min(Self::SCALE) as u32)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:04}", self.0 / 10_000, self.0 % 10_000)
    }
}

impl FromStr for Ratio {
    type Err = String;

    /// A decimal from 0 to 1 with at most four places (`0.2`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || "must be a decimal from 0 to 1, such as 0.2".to_owned();
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 4 {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let fraction: u32 = format!("{fraction:0<4}").parse().map_err(|_| bad())?;
        let value = whole * 10_000 + fraction;
        if value > 10_000 { Err(bad()) } else { Ok(Self(value)) }
    }
}

/// The breaker's settings (`OTP_BREAKER_*`); their defaults are `crate::config::DEFAULTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSettings {
    /// `OTP_BREAKER_MODE`.
    pub mode: BreakerMode,
    /// Digits of the E.164 number after the `+` that make its prefix
    /// (`OTP_BREAKER_PREFIX_DIGITS`).
    pub prefix_digits: usize,
    /// Sends to a prefix in the window below which no conclusion is drawn
    /// (`OTP_BREAKER_MIN_SENDS`).
    pub min_sends: u32,
    /// The same for a whole country (`OTP_BREAKER_COUNTRY_MIN_SENDS`): larger, so that the
    /// first sends of a campaign on one range, which its prefix's breaker then stops, cannot
    /// trip the whole country with it.
    pub country_min_sends: u32,
    /// Verified / sent below which a destination trips (`OTP_BREAKER_MIN_CONVERSION`).
    pub min_conversion: Ratio,
    /// How long a tripped destination refuses sends (`OTP_BREAKER_COOLDOWN_SECONDS`).
    pub cooldown_seconds: u64,
}

/// What a breaker tallies: a number prefix or a whole country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The first digits of the E.164 number.
    Prefix,
    /// The number's region.
    Country,
}

impl Scope {
    /// The rule a trip of this scope is, as refusals name it.
    pub const fn rule(self) -> &'static str {
        match self {
            Self::Prefix => "breaker_prefix",
            Self::Country => "breaker_country",
        }
    }

    /// The name in stored keys.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Prefix => "prefix",
            Self::Country => "country",
        }
    }
}

/// One destination the breaker watches, such as the prefix `91987` or the country `IN`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    /// Prefix or country.
    pub scope: Scope,
    /// The prefix's digits, or the region code.
    pub value: String,
}

impl Destination {
    /// The key of its tally in the bucket starting at `bucket`.
    pub fn bucket_key(&self, bucket: EpochSeconds) -> String {
        format!("{}#{}#{bucket}", self.scope.name(), self.value)
    }

    /// The key of its trip.
    pub fn trip_key(&self) -> String {
        format!("{}#{}#trip", self.scope.name(), self.value)
    }
}

/// The destinations a send to `phone` is tallied under: its prefix, then its country
/// (when libphonenumber knows it).
pub fn destinations(settings: &BreakerSettings, phone: &PhoneNumber) -> Vec<Destination> {
    let digits = phone.e164().trim_start_matches('+');
    let prefix = &digits[..settings.prefix_digits.min(digits.len())];
    let mut destinations = vec![Destination { scope: Scope::Prefix, value: prefix.to_owned() }];
    if let Some(region) = phone.region() {
        destinations.push(Destination { scope: Scope::Country, value: region.to_owned() });
    }
    destinations
}

/// Sends and verifications counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Codes whose SMS was handed to the provider, less those it refused.
    pub sent: u64,
    /// Codes verified.
    pub verified: u64,
}

impl std::ops::Add for Tally {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self { sent: self.sent + other.sent, verified: self.verified + other.verified }
    }
}

/// What one event adds to a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tallied {
    /// A code's SMS is on its way (tallied while the provider is asked).
    Sent,
    /// That SMS was refused after all: takes its `Sent` back.
    Unsent,
    /// A code verified (tallied while its challenge is used).
    Verified,
    /// That check did not use the challenge after all: takes its `Verified` back.
    Unverified,
}

impl Tallied {
    /// Whether this takes back an earlier event rather than adding one.
    pub const fn takes_back(self) -> bool {
        matches!(self, Self::Unsent | Self::Unverified)
    }
}

/// A destination as the store holds it: its tally over the window and its trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// The window's sends and verifications.
    pub tally: Tally,
    /// Until when it is tripped, when a trip is recorded (it may have ended).
    pub tripped_until: Option<EpochSeconds>,
}

/// Why the breaker refuses a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The destination.
    pub destination: Destination,
    /// The window's figures.
    pub tally: Tally,
    /// `verified / sent` over the window.
    pub conversion: Ratio,
    /// Until when sends to it are refused.
    pub until: EpochSeconds,
    /// The trip is new (to be recorded), rather than one recorded earlier.
    pub trips_now: bool,
}

impl BreakerSettings {
    /// The sample minimum of a scope.
    pub const fn min_sends_of(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Prefix => self.min_sends,
            Scope::Country => self.country_min_sends,
        }
    }

    /// The verdict on `destination` given its `reading` at `now`: refused while a recorded
    /// trip lasts, or when the window has at least its scope's sample minimum of sends and
    /// converts below `min_conversion`; `None` lets the send through.
    pub fn verdict(
        &self,
        destination: &Destination,
        reading: Reading,
        now: EpochSeconds,
    ) -> Option<Verdict> {
        let tally = reading.tally;
        let conversion = Ratio::of(tally.verified, tally.sent);
        if let Some(until) = reading.tripped_until.filter(|until| *until > now) {
            let destination = destination.clone();
            return Some(Verdict { destination, tally, conversion, until, trips_now: false });
        }
        let enough = tally.sent >= u64::from(self.min_sends_of(destination.scope));
        (enough && conversion < self.min_conversion).then(|| Verdict {
            destination: destination.clone(),
            tally,
            conversion,
            until: now + self.cooldown_seconds,
            trips_now: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings() -> BreakerSettings {
        BreakerSettings { min_sends: 20, ..BreakerSettings::default() }
    }

    fn prefix() -> Destination {
        Destination { scope: Scope::Prefix, value: "91987".into() }
    }

    #[test]
    fn ratios_parse_as_decimals_from_zero_to_one() {
        assert_eq!("0.2".parse::<Ratio>(), Ok(Ratio(2_000)));
        assert_eq!("1".parse::<Ratio>(), Ok(Ratio(10_000)));
        assert_eq!("0.0625".parse::<Ratio>(), Ok(Ratio(625)));
        for bad in ["", ".5", "1.5", "-0.1", "0.12345", "abc", "0,2"] {
            assert!(bad.parse::<Ratio>().is_err(), "{bad}");
        }
        assert_eq!(Ratio::of(1, 3).to_string(), "0.3333");
        assert_eq!(Ratio::of(5, 0), Ratio(0));
    }

    #[test]
    fn destinations_are_the_prefix_and_the_country() {
        let phone = PhoneNumber::parse("+919876543219", "").unwrap();
        let found = destinations(&settings(), &phone);
        assert_eq!(found[0], prefix());
        assert_eq!(found[1], Destination { scope: Scope::Country, value: "IN".into() });
        let satellite = PhoneNumber::parse("+881612345678", "").unwrap();
        let country = Destination { scope: Scope::Country, value: "+881".into() };
        assert_eq!(destinations(&settings(), &satellite)[1], country, "a network as a country");
        let short = BreakerSettings { prefix_digits: 99, ..settings() };
        assert_eq!(destinations(&short, &phone)[0].value, "919876543219");
    }

    #[test]
    fn a_destination_trips_on_enough_sends_converting_too_little_and_stays_tripped() {
        let settings = settings();
        let reading =
            |sent, verified| Reading { tally: Tally { sent, verified }, tripped_until: None };
        assert_eq!(settings.verdict(&prefix(), reading(19, 0), 1000), None, "too few to judge");
        let verdict = settings.verdict(&prefix(), reading(20, 3), 1000).unwrap();
        assert_eq!((verdict.until, verdict.trips_now), (4600, true));
        assert_eq!(verdict.conversion.to_string(), "0.1500");
        assert_eq!(settings.verdict(&prefix(), reading(20, 4), 1000), None, "0.2 is enough");
        let tripped = Reading { tally: Tally::default(), tripped_until: Some(4600) };
        let held = settings.verdict(&prefix(), tripped, 4599).unwrap();
        assert_eq!((held.until, held.trips_now), (4600, false));
        assert_eq!(settings.verdict(&prefix(), tripped, 4600), None, "the trip has ended");
    }

    proptest! {
        /// Below the sample minimum nothing is refused, whatever the conversion.
        #[test]
        fn no_refusal_below_the_sample_minimum(
            min_sends in 1u32..500,
            country_min_sends in 1u32..500,
            sent in 0u64..500,
            verified in 0u64..500,
            now in 0u64..10_000_000,
            country in any::<bool>(),
        ) {
            let settings = BreakerSettings { min_sends, country_min_sends, ..settings() };
            let destination = if country {
                Destination { scope: Scope::Country, value: "IN".into() }
            } else {
                prefix()
            };
            let tally = Tally { sent, verified: verified.min(sent) };
            let reading = Reading { tally, tripped_until: None };
            let verdict = settings.verdict(&destination, reading, now);
            if sent < u64::from(settings.min_sends_of(destination.scope)) {
                prop_assert!(verdict.is_none());
            } else {
                let low = Ratio::of(tally.verified, sent) < settings.min_conversion;
                prop_assert_eq!(verdict.is_some(), low, "judged on the conversion alone");
            }
        }
    }
}
