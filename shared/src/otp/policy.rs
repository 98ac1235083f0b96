//! The OTP policy: the shape and lifetime of codes, the attempt and send limits, and which
//! destinations get a code. Plain data with its rules; `crate::config` fills it from the
//! environment.

use std::fmt;

use super::breaker::BreakerSettings;
use super::destinations::{Countries, CountryLimits, NumberTypes, Prefixes, TestNumbers};
use super::message::{Message, Messages};
use crate::phone::PhoneNumber;

/// The OTP policy. A send limit of 0 disables it. Its defaults are those of
/// `crate::config::DEFAULTS`: `Policy::default()` reads an empty environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    /// Digits in the code sent by SMS (`OTP_LENGTH`).
    pub code_length: usize,
    /// Digits in the `authCode` returned to the client (`OTP_AUTH_CODE_LENGTH`).
    pub auth_code_length: usize,
    /// Seconds a code stays valid (`OTP_TTL_SECONDS`).
    pub code_ttl_seconds: u64,
    /// Attempts a challenge allows before it is dead (`OTP_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Seconds before the same phone may be sent another code (`OTP_RESEND_COOLDOWN_SECONDS`).
    pub resend_cooldown_seconds: u64,
    /// Codes per phone per clock hour (`OTP_MAX_SENDS_PER_PHONE_PER_HOUR`).
    pub max_sends_per_phone_per_hour: u32,
    /// Codes per JWT subject per clock hour (`OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR`).
    pub max_sends_per_subject_per_hour: u32,
    /// Codes per client IP per clock hour (`OTP_MAX_SENDS_PER_IP_PER_HOUR`).
    pub max_sends_per_ip_per_hour: u32,
    /// Wrong codes one subject may submit per UTC day, across all its challenges
    /// (`OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY`).
    pub max_failed_verifications_per_subject_per_day: u32,
    /// Codes sent to anyone per clock hour (`OTP_MAX_SENDS_PER_HOUR`).
    pub max_sends_per_hour: u32,
    /// Codes sent to anyone per UTC day (`OTP_MAX_SENDS_PER_DAY`).
    pub max_sends_per_day: u32,
    /// Codes sent to one country per clock hour (`OTP_MAX_SENDS_PER_COUNTRY_PER_HOUR`).
    pub max_sends_per_country_per_hour: CountryLimits,
    /// Codes sent to one country per UTC day (`OTP_MAX_SENDS_PER_COUNTRY_PER_DAY`).
    pub max_sends_per_country_per_day: CountryLimits,
    /// The conversion breaker (`OTP_BREAKER_*`).
    pub breaker: BreakerSettings,
    /// The SMS texts, their languages and autofill lines (`SMS_*`).
    pub messages: Messages,
    /// Regions codes may be sent to (`OTP_ALLOWED_COUNTRIES`); `None` allows all.
    pub allowed_countries: Option<Countries>,
    /// Regions codes are never sent to (`OTP_DENIED_COUNTRIES`).
    pub denied_countries: Countries,
    /// E.164 prefixes codes are never sent to (`OTP_DENIED_PREFIXES`).
    pub denied_prefixes: Prefixes,
    /// Kinds of line no code is sent to (`OTP_BLOCKED_NUMBER_TYPES`).
    pub blocked_number_types: NumberTypes,
    /// Numbers that get a fixed code and no SMS (`OTP_TEST_NUMBERS`).
    pub test_numbers: TestNumbers,
}

/// Why a phone number may not be sent a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationRefusal {
    /// Its region is not in `OTP_ALLOWED_COUNTRIES`.
    CountryNotAllowed,
    /// Its region is in `OTP_DENIED_COUNTRIES`.
    CountryDenied,
    /// It starts with a prefix in `OTP_DENIED_PREFIXES`.
    PrefixDenied,
    /// Its kind of line is in `OTP_BLOCKED_NUMBER_TYPES`.
    UnsupportedNumberType,
}

impl DestinationRefusal {
    /// The rule, as refusals name it in logs and metrics.
    pub const fn rule(self) -> &'static str {
        match self {
            Self::CountryNotAllowed => "country_not_allowed",
            Self::CountryDenied => "country_denied",
            Self::PrefixDenied => "prefix_denied",
            Self::UnsupportedNumberType => "number_type",
        }
    }
}

impl Policy {
    /// The default policy with every send and failure limit off: for fuzzing, and for tests
    /// about verification rather than limits.
    #[cfg(any(test, feature = "testing"))]
    pub fn without_send_limits() -> Self {
        Self {
            resend_cooldown_seconds: 0,
            max_sends_per_phone_per_hour: 0,
            max_sends_per_subject_per_hour: 0,
            max_sends_per_ip_per_hour: 0,
            max_failed_verifications_per_subject_per_day: 0,
            breaker: BreakerSettings {
                mode: super::breaker::BreakerMode::Off,
                ..BreakerSettings::default()
            },
            ..Self::default()
        }
    }

    /// Why no code may be sent to `phone`, if that is so. Test numbers are never refused:
    /// they get no SMS.
    pub fn destination_refusal(&self, phone: &PhoneNumber) -> Option<DestinationRefusal> {
        if self.test_code(phone).is_some() {
            return None;
        }
        let region_allowed =
            |allowed: &Countries| phone.region().is_some_and(|r| allowed.contains(r));
        if self.allowed_countries.as_ref().is_some_and(|allowed| !region_allowed(allowed)) {
            Some(DestinationRefusal::CountryNotAllowed)
        } else if phone.region().is_some_and(|region| self.denied_countries.contains(region)) {
            Some(DestinationRefusal::CountryDenied)
        } else if self.denied_prefixes.matching(phone).is_some() {
            Some(DestinationRefusal::PrefixDenied)
        } else if self.blocked_number_types.contains(phone.number_type()) {
            Some(DestinationRefusal::UnsupportedNumberType)
        } else {
            None
        }
    }

    /// The fixed code of a test number.
    pub fn test_code(&self, phone: &PhoneNumber) -> Option<&str> {
        self.test_numbers.code(phone)
    }

    /// The SMS for `code` to `phone`, in the first of `locales` there is a template for
    /// (see [`Messages::render`]).
    pub fn message(&self, code: &str, phone: &PhoneNumber, locales: &[String]) -> Message {
        self.messages.render(locales, phone.region(), code, self.code_ttl_minutes())
    }

    /// The code's lifetime in whole minutes, rounded up, as messages state it.
    pub fn code_ttl_minutes(&self) -> u64 {
        self.code_ttl_seconds.div_ceil(60)
    }
}

/// Every field but the test numbers' codes, which are secrets.
impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("code_length", &self.code_length)
            .field("auth_code_length", &self.auth_code_length)
            .field("code_ttl_seconds", &self.code_ttl_seconds)
            .field("max_attempts", &self.max_attempts)
            .field("resend_cooldown_seconds", &self.resend_cooldown_seconds)
            .field("max_sends_per_phone_per_hour", &self.max_sends_per_phone_per_hour)
            .field("max_sends_per_subject_per_hour", &self.max_sends_per_subject_per_hour)
            .field("max_sends_per_ip_per_hour", &self.max_sends_per_ip_per_hour)
            .field(
                "max_failed_verifications_per_subject_per_day",
                &self.max_failed_verifications_per_subject_per_day,
            )
            .field("max_sends_per_hour", &self.max_sends_per_hour)
            .field("max_sends_per_day", &self.max_sends_per_day)
            .field("max_sends_per_country_per_hour", &self.max_sends_per_country_per_hour)
            .field("max_sends_per_country_per_day", &self.max_sends_per_country_per_day)
            .field("breaker", &self.breaker)
            .field("messages", &self.messages)
            .field("allowed_countries", &self.allowed_countries)
            .field("denied_countries", &self.denied_countries)
            .field("denied_prefixes", &self.denied_prefixes)
            .field("blocked_number_types", &self.blocked_number_types)
            .field("test_numbers", &self.test_numbers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(number: &str) -> PhoneNumber {
        PhoneNumber::parse(number, "").unwrap()
    }

    #[test]
    fn destinations_are_checked_against_countries_and_number_types() {
        let policy =
            Policy { allowed_countries: Some(" in, US ".parse().unwrap()), ..Policy::default() };
        assert_eq!(policy.destination_refusal(&phone("+919876543219")), None);
        assert_eq!(policy.destination_refusal(&phone("+12015550123")), None);
        assert_eq!(
            policy.destination_refusal(&phone("+447400123456")),
            Some(DestinationRefusal::CountryNotAllowed)
        );
        assert_eq!(
            policy.destination_refusal(&phone("+911123456789")),
            Some(DestinationRefusal::UnsupportedNumberType),
            "a Delhi landline"
        );
        let denied = Policy {
            denied_countries: "GB".parse().unwrap(),
            denied_prefixes: "+2327".parse().unwrap(),
            ..Policy::default()
        };
        assert_eq!(
            denied.destination_refusal(&phone("+447400123456")),
            Some(DestinationRefusal::CountryDenied)
        );
        assert_eq!(
            denied.destination_refusal(&phone("+23276123456")),
            Some(DestinationRefusal::PrefixDenied)
        );
        assert_eq!(denied.destination_refusal(&phone("+919876543219")), None);
        let open = Policy { blocked_number_types: "none".parse().unwrap(), ..Policy::default() };
        assert_eq!(open.destination_refusal(&phone("+911123456789")), None);
        assert_eq!(open.destination_refusal(&phone("+447400123456")), None);
    }

    #[test]
    fn test_numbers_are_never_refused() {
        let policy = Policy {
            allowed_countries: Some("US".parse().unwrap()),
            test_numbers: "+919876543219=424242".parse().unwrap(),
            ..Policy::default()
        };
        assert_eq!(policy.destination_refusal(&phone("+919876543219")), None);
        assert_eq!(policy.test_code(&phone("+919876543219")), Some("424242"));
        assert_eq!(policy.test_code(&phone("+919876543210")), None);
    }

    #[test]
    fn message_rounds_minutes_up() {
        let policy = Policy { code_ttl_seconds: 61, ..Policy::default() };
        let sms = policy.message("042", &phone("+12015550123"), &[]);
        assert_eq!(
            sms.text,
            "042 is your verification code. It expires in 2 minutes. Do not share it."
        );
    }

    #[test]
    fn debug_output_hides_test_codes() {
        let policy =
            Policy { test_numbers: "+919876543219=424242".parse().unwrap(), ..Policy::default() };
        let shown = format!("{policy:?}");
        assert!(!shown.contains("424242"), "{shown}");
        assert!(!shown.contains("9876543219"), "{shown}");
        assert!(shown.contains("max_attempts: 5"), "{shown}");
    }
}
