//! The default of every variable that has one, in one table, and the reading that falls
//! back to it. No other default of these variables exists in the code: `Policy::default()`
//! and `BreakerSettings::default()` are what an empty environment reads, so the table,
//! docs/configuration.md and `template.yaml` (held together by a test) say what runs.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::ConfigError;
use super::read::{optional, parse_value, within};

/// The default of every variable that has one, as text: what `template.yaml` and the table
/// of docs/configuration.md must say (a test compares them), and what the code reads when
/// the variable is unset.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("JWT_SUBJECT_CLAIM", "sub"),
    ("JWT_JWKS_MAX_AGE_SECONDS", "3600"),
    ("OTP_LENGTH", "6"),
    ("OTP_AUTH_CODE_LENGTH", "4"),
    ("OTP_TTL_SECONDS", "300"),
    ("OTP_MAX_ATTEMPTS", "5"),
    ("OTP_RESEND_COOLDOWN_SECONDS", "30"),
    ("OTP_MAX_SENDS_PER_PHONE_PER_HOUR", "5"),
    ("OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR", "10"),
    ("OTP_MAX_SENDS_PER_IP_PER_HOUR", "50"),
    ("OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY", "20"),
    ("OTP_BLOCKED_NUMBER_TYPES", "fixed_line,premium_rate,shared_cost,personal_number,uan"),
    ("OTP_BREAKER_MODE", "enforce"),
    ("OTP_BREAKER_PREFIX_DIGITS", "5"),
    ("OTP_BREAKER_MIN_SENDS", "20"),
    ("OTP_BREAKER_COUNTRY_MIN_SENDS", "100"),
    ("OTP_BREAKER_MIN_CONVERSION", "0.2"),
    ("OTP_BREAKER_COOLDOWN_SECONDS", "3600"),
    ("SMS_ALLOW_MULTIPART", "false"),
    ("ALLOW_EXAMPLE_SECRETS", "false"),
    ("OTP_WARM_CLIENTS", "true"),
    ("VERIFICATION_TOKEN_TTL_SECONDS", "300"),
];

/// A variable's value, or its default in [`DEFAULTS`] when unset. A variable the table
/// has no default for is [`ConfigError::Missing`] when unset.
pub(super) fn setting(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, name)
        .or_else(|| {
            let default = DEFAULTS.iter().find(|(variable, _)| *variable == name);
            default.map(|(_, value)| (*value).to_owned())
        })
        .ok_or(ConfigError::Missing(name))
}

/// A variable parsed as `T`, or its default in [`DEFAULTS`] when unset.
pub(super) fn parse_default<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    parse_value(name, &setting(lookup, name)?)
}

/// A number within `range`, or its default in [`DEFAULTS`] when unset.
pub(super) fn parse_default_in<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display,
    T::Err: Display,
{
    within(name, range, parse_default(lookup, name)?)
}
