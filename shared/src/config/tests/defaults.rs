//! The defaults: what an empty environment reads is the [`DEFAULTS`] table, every entry of
//! the table is read, and `Default` gives the same.

use std::cell::RefCell;
use std::collections::BTreeSet;

use jsonwebtoken::Algorithm;

use super::{SECRETS, env};
use crate::config::{AwsSettings, ConfigError, DEFAULTS, Settings, check_without_aws};
use crate::otp::Policy;
use crate::otp::breaker::BreakerSettings;
use crate::otp::destinations::{Countries, CountryLimits, NumberTypes, Prefixes, TestNumbers};
use crate::otp::message::Messages;
use crate::phone::NumberType;

#[test]
fn defaults_apply_when_only_secrets_are_set() {
    let settings = Settings::from_lookup(&env(&SECRETS)).unwrap();
    assert_eq!(settings.policy, Policy::default());
    assert_eq!(settings.policy.code_length, 6);
    assert_eq!(settings.policy.max_sends_per_ip_per_hour, 50);
    assert_eq!(settings.jwt.issuer, None);
    assert_eq!(settings.jwt.algorithms.as_slice(), [Algorithm::HS256]);
    assert_eq!(settings.jwt.subject_claim, "sub");
}

#[test]
fn the_documented_defaults_are_the_defaults() {
    let unset = Settings::from_lookup(&env(&SECRETS)).unwrap();
    let spelled_out = Settings::from_lookup(&env(&[&SECRETS[..], DEFAULTS].concat())).unwrap();
    assert_eq!(spelled_out.policy, unset.policy);
    assert_eq!(spelled_out.jwt.subject_claim, unset.jwt.subject_claim);
}

/// Each entry of the table is asked for when the start reads its settings (with a
/// verification token key, without which the token's lifetime is not read), and each
/// default parses: `Policy::default()` relies on it.
#[test]
fn every_default_is_read_and_parses() {
    let key = include_str!("../../../../testkit/keys/ed-private.pem");
    let tokens = [
        ("VERIFICATION_TOKEN_PRIVATE_KEY", key),
        ("VERIFICATION_TOKEN_ISSUER", "https://otp.example"),
    ];
    let given = env(&[&SECRETS[..], &tokens].concat());
    let asked = RefCell::new(BTreeSet::new());
    let recording = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        given(name)
    };
    let settings = Settings::from_lookup(&recording).unwrap();
    assert!(settings.verification_tokens.is_some());
    check_without_aws(&recording).unwrap();
    let asked = asked.into_inner();
    for (name, _) in DEFAULTS {
        assert!(asked.contains(*name), "{name} has a default but nothing reads it");
    }
}

/// What the table has no entry for is off or empty by default, as it is when unset.
#[test]
fn what_the_table_does_not_set_is_off_or_empty_by_default() {
    let policy = Policy::default();
    assert_eq!((policy.max_sends_per_hour, policy.max_sends_per_day), (0, 0));
    assert_eq!(policy.max_sends_per_country_per_hour, CountryLimits::default());
    assert_eq!(policy.max_sends_per_country_per_day, CountryLimits::default());
    assert_eq!(policy.messages, Messages::default());
    assert_eq!(policy.allowed_countries, None);
    assert_eq!(policy.denied_countries, Countries::default());
    assert_eq!(policy.denied_prefixes, Prefixes::default());
    assert_eq!(policy.test_numbers, TestNumbers::default());
    assert_eq!(policy.breaker, BreakerSettings::default());
    let blocked = [
        NumberType::FixedLine,
        NumberType::PremiumRate,
        NumberType::SharedCost,
        NumberType::PersonalNumber,
        NumberType::Uan,
    ];
    assert_eq!(policy.blocked_number_types, NumberTypes::from(blocked));
}

#[test]
fn the_functions_warm_their_clients_unless_told_not_to() {
    let table = [("TABLE_NAME", "otp")];
    assert!(AwsSettings::from_lookup(&env(&table)).unwrap().warm_clients);
    let off = [&table[..], &[("OTP_WARM_CLIENTS", "false")]].concat();
    assert!(!AwsSettings::from_lookup(&env(&off)).unwrap().warm_clients);
    match check_without_aws(&env(&[("OTP_WARM_CLIENTS", "maybe")])) {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "OTP_WARM_CLIENTS"),
        other => panic!("expected OTP_WARM_CLIENTS refused: {other:?}"),
    }
}
