//! Reads the OTP policy (`OTP_*`) and its conversion breaker (`OTP_BREAKER_*`); what they
//! mean lives with the code that applies them, in `crate::otp`.

use super::ConfigError;
use super::defaults::{parse_default, parse_default_in};
use super::messages::messages;
use super::read::{optional, optional_parse, parse_or};
use crate::otp::Policy;
use crate::otp::breaker::BreakerSettings;
use crate::otp::destinations::{Countries, CountryLimits, Prefixes, TestNumbers};

impl Policy {
    /// Reads the policy through `lookup`; what is unset takes its default in
    /// [`DEFAULTS`](super::DEFAULTS), and a limit without one there is off.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let code_length: usize = parse_default_in(lookup, "OTP_LENGTH", 4..=10)?;
        let code_ttl_seconds: u64 = parse_default_in(lookup, "OTP_TTL_SECONDS", 1..=86_400)?;
        let test_numbers = parse_or(lookup, "OTP_TEST_NUMBERS", TestNumbers::default())?;
        test_numbers
            .check_code_length(code_length)
            .map_err(|reason| ConfigError::invalid("OTP_TEST_NUMBERS", reason))?;
        Ok(Self {
            code_length,
            auth_code_length: parse_default_in(lookup, "OTP_AUTH_CODE_LENGTH", 4..=10)?,
            code_ttl_seconds,
            max_attempts: parse_default_in(lookup, "OTP_MAX_ATTEMPTS", 1..=u32::MAX)?,
            resend_cooldown_seconds: parse_default_in(
                lookup,
                "OTP_RESEND_COOLDOWN_SECONDS",
                0..=86_400,
            )?,
            max_sends_per_phone_per_hour: parse_default(
                lookup,
                "OTP_MAX_SENDS_PER_PHONE_PER_HOUR",
            )?,
            max_sends_per_subject_per_hour: parse_default(
                lookup,
                "OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR",
            )?,
            max_sends_per_ip_per_hour: parse_default(lookup, "OTP_MAX_SENDS_PER_IP_PER_HOUR")?,
            max_failed_verifications_per_subject_per_day: parse_default(
                lookup,
                "OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY",
            )?,
            max_sends_per_hour: parse_or(lookup, "OTP_MAX_SENDS_PER_HOUR", 0)?,
            max_sends_per_day: parse_or(lookup, "OTP_MAX_SENDS_PER_DAY", 0)?,
            max_sends_per_country_per_hour: parse_or(
                lookup,
                "OTP_MAX_SENDS_PER_COUNTRY_PER_HOUR",
                CountryLimits::default(),
            )?,
            max_sends_per_country_per_day: parse_or(
                lookup,
                "OTP_MAX_SENDS_PER_COUNTRY_PER_DAY",
                CountryLimits::default(),
            )?,
            breaker: breaker(lookup)?,
            messages: messages(lookup, code_length, code_ttl_seconds)?,
            allowed_countries: match optional(lookup, "OTP_ALLOWED_COUNTRIES") {
                Some(all) if all.trim() == "*" => None,
                _ => optional_parse(lookup, "OTP_ALLOWED_COUNTRIES")?,
            },
            denied_countries: parse_or(lookup, "OTP_DENIED_COUNTRIES", Countries::default())?,
            denied_prefixes: parse_or(lookup, "OTP_DENIED_PREFIXES", Prefixes::default())?,
            blocked_number_types: parse_default(lookup, "OTP_BLOCKED_NUMBER_TYPES")?,
            test_numbers,
        })
    }
}

/// The conversion breaker's settings (`OTP_BREAKER_*`), each defaulting to its
/// [`DEFAULTS`](super::DEFAULTS) entry.
pub(super) fn breaker(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<BreakerSettings, ConfigError> {
    Ok(BreakerSettings {
        mode: parse_default(lookup, "OTP_BREAKER_MODE")?,
        prefix_digits: parse_default_in(lookup, "OTP_BREAKER_PREFIX_DIGITS", 1..=15)?,
        min_sends: parse_default_in(lookup, "OTP_BREAKER_MIN_SENDS", 1..=u32::MAX)?,
        country_min_sends: parse_default_in(lookup, "OTP_BREAKER_COUNTRY_MIN_SENDS", 1..=u32::MAX)?,
        min_conversion: parse_default(lookup, "OTP_BREAKER_MIN_CONVERSION")?,
        cooldown_seconds: parse_default_in(lookup, "OTP_BREAKER_COOLDOWN_SECONDS", 60..=86_400)?,
    })
}

/// The policy of an empty environment: the [`DEFAULTS`], every other limit off.
impl Default for Policy {
    fn default() -> Self {
        // An empty environment reads only the table, whose values a unit test reads and
        // parses (`every_default_is_read_and_parses`), so this cannot fail.
        Self::from_lookup(&|_| None).expect("the values of config::DEFAULTS parse")
    }
}

/// The breaker of an empty environment: its [`DEFAULTS`].
impl Default for BreakerSettings {
    fn default() -> Self {
        // As for `Policy`: only the table is read, and its values are tested to parse.
        breaker(&|_| None).expect("the values of config::DEFAULTS parse")
    }
}
