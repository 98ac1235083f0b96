//! Reading whole environments: every variable read, every bad value named, the start
//! stopped by what must not run.

mod defaults;
mod jwt;

use std::collections::HashMap;

use super::{ALLOW_EXAMPLE_SECRETS, ConfigError, Settings};
use crate::otp::breaker::BreakerMode;
use crate::phone::{NumberType, PhoneNumber};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

const SECRETS: [(&str, &str); 2] = [
    ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ("OTP_HASH_KEY", "fedcba9876543210fedcba9876543210"),
];

#[test]
fn every_variable_is_read() {
    let mut pairs = SECRETS.to_vec();
    pairs.extend([
        ("OTP_LENGTH", "8"),
        ("OTP_AUTH_CODE_LENGTH", "5"),
        ("OTP_TTL_SECONDS", "90"),
        ("OTP_MAX_ATTEMPTS", "3"),
        ("OTP_RESEND_COOLDOWN_SECONDS", "0"),
        ("OTP_MAX_SENDS_PER_PHONE_PER_HOUR", "1"),
        ("OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR", "2"),
        ("OTP_MAX_SENDS_PER_IP_PER_HOUR", "0"),
        ("SMS_MESSAGE_TEMPLATE", "{code} ({minutes} min)"),
        ("SMS_MESSAGE_TEMPLATES", "sw={code} ni msimbo wako"),
        ("SMS_LOCALES", "en,sw,hi"),
        ("SMS_DEFAULT_LOCALES", "KE:sw"),
        ("SMS_APP_NAME", "Acme"),
        ("SMS_WEBOTP_DOMAIN", "App.Example.com"),
        ("SMS_ANDROID_APP_HASH", "FA+9qCX9VSu"),
        ("SMS_ALLOW_MULTIPART", "true"),
        ("OTP_ALLOWED_COUNTRIES", "IN,US"),
        ("OTP_DENIED_COUNTRIES", "GB"),
        ("OTP_DENIED_PREFIXES", "+88213,+2327"),
        ("OTP_MAX_SENDS_PER_HOUR", "100"),
        ("OTP_MAX_SENDS_PER_DAY", "1000"),
        ("OTP_MAX_SENDS_PER_COUNTRY_PER_HOUR", "10;IN=50"),
        ("OTP_MAX_SENDS_PER_COUNTRY_PER_DAY", "IN=500"),
        ("OTP_BREAKER_MODE", "monitor"),
        ("OTP_BREAKER_PREFIX_DIGITS", "6"),
        ("OTP_BREAKER_MIN_SENDS", "40"),
        ("OTP_BREAKER_COUNTRY_MIN_SENDS", "400"),
        ("OTP_BREAKER_MIN_CONVERSION", "0.35"),
        ("OTP_BREAKER_COOLDOWN_SECONDS", "600"),
        ("OTP_BLOCKED_NUMBER_TYPES", "premium_rate, VOIP"),
        ("OTP_TEST_NUMBERS", "+1 201 555 0123=12345678"),
        ("JWT_ISSUER", "https://issuer.example"),
        ("JWT_AUDIENCE", "otp-api"),
        ("JWT_SUBJECT_CLAIM", "uid"),
    ]);
    let settings = Settings::from_lookup(&env(&pairs)).unwrap();
    let policy = settings.policy;
    assert_eq!((policy.code_length, policy.auth_code_length, policy.code_ttl_seconds), (8, 5, 90));
    assert_eq!((policy.max_attempts, policy.resend_cooldown_seconds), (3, 0));
    assert_eq!(
        (
            policy.max_sends_per_phone_per_hour,
            policy.max_sends_per_subject_per_hour,
            policy.max_sends_per_ip_per_hour
        ),
        (1, 2, 0)
    );
    let kenya = PhoneNumber::parse("+254712345678", "").unwrap();
    let sms = policy.message("12345678", &kenya, &[]);
    assert_eq!(sms.locale, "sw");
    assert_eq!(sms.text, "12345678 ni msimbo wako\nFA+9qCX9VSu\n\n@app.example.com #12345678");
    let english = policy.message("12345678", &kenya, &["en".to_owned()]).text;
    assert!(english.starts_with("12345678 (2 min)\n"), "{english}");
    assert_eq!(policy.messages.locales().collect::<Vec<_>>(), ["en", "hi", "sw"]);
    assert!(policy.allowed_countries.as_ref().is_some_and(|c| c.contains("US")));
    assert!(policy.denied_countries.contains("GB"));
    let sierra_leone = PhoneNumber::parse("+23276123456", "").unwrap();
    assert_eq!(policy.denied_prefixes.matching(&sierra_leone), Some("+2327"));
    assert_eq!((policy.max_sends_per_hour, policy.max_sends_per_day), (100, 1000));
    assert_eq!(policy.max_sends_per_country_per_hour.for_region("IN"), 50);
    assert_eq!(policy.max_sends_per_country_per_hour.for_region("US"), 10);
    assert_eq!(policy.max_sends_per_country_per_day.for_region("US"), 0);
    let breaker = &policy.breaker;
    assert_eq!(breaker.mode, BreakerMode::Monitor);
    assert_eq!((breaker.prefix_digits, breaker.min_sends, breaker.cooldown_seconds), (6, 40, 600));
    assert_eq!(breaker.country_min_sends, 400);
    assert_eq!(breaker.min_conversion.to_string(), "0.3500");
    assert!(policy.blocked_number_types.contains(NumberType::Voip));
    assert_eq!(policy.test_numbers.len(), 1);
    assert_eq!(settings.jwt.issuer.as_deref(), Some("https://issuer.example"));
    assert_eq!(settings.jwt.audience.as_deref(), Some("otp-api"));
    assert_eq!(settings.jwt.subject_claim, "uid");
}

#[test]
fn errors_name_the_variable() {
    assert_eq!(
        Settings::from_lookup(&env(&SECRETS[..1])).unwrap_err(),
        ConfigError::Missing("OTP_HASH_KEY")
    );
    assert_eq!(
        Settings::from_lookup(&env(&SECRETS[1..])).unwrap_err(),
        ConfigError::Missing("JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL")
    );
    let cases = [
        ("OTP_LENGTH", "3"),
        ("OTP_LENGTH", "11"),
        ("OTP_LENGTH", "six"),
        ("OTP_AUTH_CODE_LENGTH", "2"),
        ("OTP_TTL_SECONDS", "0"),
        ("OTP_MAX_ATTEMPTS", "0"),
        ("OTP_MAX_SENDS_PER_IP_PER_HOUR", "-1"),
        ("OTP_RESEND_COOLDOWN_SECONDS", "18446744073709551615"),
        ("SMS_MESSAGE_TEMPLATE", "no placeholder"),
        ("SMS_MESSAGE_TEMPLATES", "es=sin codigo"),
        ("SMS_LOCALES", "en,xx"),
        ("SMS_DEFAULT_LOCALES", "IN"),
        ("SMS_APP_NAME", "{app}"),
        ("SMS_WEBOTP_DOMAIN", "https://app.example.com"),
        ("SMS_ANDROID_APP_HASH", "short"),
        ("SMS_ANDROID_APP_HASH", "FA+9qCX9VS!"),
        ("SMS_ALLOW_MULTIPART", "maybe"),
        ("OTP_DENIED_COUNTRIES", "XX"),
        ("OTP_DENIED_PREFIXES", "88213"),
        ("OTP_MAX_SENDS_PER_DAY", "lots"),
        ("OTP_MAX_SENDS_PER_COUNTRY_PER_HOUR", "10;XX=5"),
        ("OTP_BREAKER_MODE", "on"),
        ("OTP_BREAKER_PREFIX_DIGITS", "0"),
        ("OTP_BREAKER_MIN_SENDS", "0"),
        ("OTP_BREAKER_MIN_CONVERSION", "1.5"),
        ("OTP_BREAKER_COOLDOWN_SECONDS", "5"),
        ("JWT_SECRET", "short"),
        ("JWT_ALGORITHMS", "RS256"),
        ("JWT_ALGORITHMS", "HS256,XS1"),
        ("OTP_HASH_KEY", "short"),
        ("OTP_ALLOWED_COUNTRIES", "IN,XX"),
        ("OTP_BLOCKED_NUMBER_TYPES", "landline"),
        ("OTP_TEST_NUMBERS", "+12015550123"),
        ("OTP_TEST_NUMBERS", "2015550123=123456"),
        ("OTP_TEST_NUMBERS", "+12015550123=1234"),
    ];
    for (name, value) in cases {
        let mut pairs = SECRETS.to_vec();
        pairs.retain(|(k, _)| *k != name);
        pairs.push((name, value));
        match Settings::from_lookup(&env(&pairs)) {
            Err(ConfigError::Invalid { name: named, reason }) => {
                assert_eq!(named, name);
                if name == "OTP_TEST_NUMBERS" {
                    assert!(!reason.contains("5550123"), "no number echoed: {reason}");
                    assert!(!reason.contains("1234"), "no code echoed: {reason}");
                }
            }
            other => panic!("{name}={value}: expected an error naming it, got {other:?}"),
        }
    }
}

#[test]
fn a_message_over_one_segment_stops_the_start_naming_the_locale_and_its_length() {
    let webotp = [&SECRETS[..], &[("SMS_WEBOTP_DOMAIN", "app.example.com")]].concat();
    // Built in and not asked for: left out, and the start goes on.
    let settings = Settings::from_lookup(&env(&webotp)).expect("WebOTP alone starts");
    let kept: Vec<&str> = settings.policy.messages.locales().collect();
    assert!(kept.contains(&"en") && kept.contains(&"es"), "{kept:?}");
    assert!(!kept.contains(&"ar") && !kept.contains(&"hi"), "UCS-2 left out: {kept:?}");
    // Named by the operator: the start stops, naming it.
    let named = [&webotp[..], &[("SMS_LOCALES", "en,hi")]].concat();
    match Settings::from_lookup(&env(&named)) {
        Err(ConfigError::Invalid { name: "SMS_LOCALES", reason }) => {
            assert!(reason.contains("the hi message is"), "{reason}");
            assert!(reason.contains("UCS-2") && reason.contains("70"), "{reason}");
        }
        other => {
            panic!("expected the named UCS-2 locale refused with a WebOTP line: {other:?}")
        }
    }
    let latin = [&webotp[..], &[("SMS_LOCALES", "en,es,pt,fr,de,id")]].concat();
    assert!(Settings::from_lookup(&env(&latin)).is_ok());
    let multipart = [&webotp[..], &[("SMS_ALLOW_MULTIPART", "true")]].concat();
    assert!(Settings::from_lookup(&env(&multipart)).is_ok());
    let long = format!("es={}", "{code} ".repeat(30));
    let own = [&SECRETS[..], &[("SMS_MESSAGE_TEMPLATES", long.as_str())]].concat();
    match Settings::from_lookup(&env(&own)) {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "SMS_MESSAGE_TEMPLATES"),
        other => panic!("expected the long template refused: {other:?}"),
    }
}

#[test]
fn example_secrets_are_refused_unless_allowed() {
    let example = [
        ("JWT_SECRET", "example-only-jwt-secret-for-events-and-sam-local"),
        ("OTP_HASH_KEY", "example-only-hash-key-for-events-and-sam-local"),
    ];
    for (name, value) in example {
        let mut pairs: Vec<_> = SECRETS.iter().filter(|(k, _)| *k != name).copied().collect();
        pairs.push((name, value));
        match Settings::from_lookup(&env(&pairs)) {
            Err(ConfigError::Invalid { name: named, reason }) => {
                assert_eq!(named, name);
                assert!(!reason.contains(value), "the secret is not echoed");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
    let allowed = [&example[..], &[(ALLOW_EXAMPLE_SECRETS, "true")]].concat();
    assert!(Settings::from_lookup(&env(&allowed)).is_ok());
}

#[test]
fn verification_tokens_need_an_issuer_and_a_valid_key() {
    let ed = include_str!("../../../testkit/keys/ed-private.pem");
    let rsa = include_str!("../../../testkit/keys/rsa-private.pem");
    let with =
        |pairs: &[(&str, &str)]| Settings::from_lookup(&env(&[&SECRETS[..], pairs].concat()));
    assert!(with(&[]).unwrap().verification_tokens.is_none());
    let key = ("VERIFICATION_TOKEN_PRIVATE_KEY", ed);
    assert_eq!(with(&[key]).unwrap_err(), ConfigError::Missing("VERIFICATION_TOKEN_ISSUER"));
    let issuer = ("VERIFICATION_TOKEN_ISSUER", "https://otp.example");
    assert!(with(&[key, issuer]).unwrap().verification_tokens.is_some());
    match with(&[("VERIFICATION_TOKEN_PRIVATE_KEY", rsa), issuer]) {
        Err(ConfigError::Invalid { name, .. }) => {
            assert_eq!(name, "VERIFICATION_TOKEN_PRIVATE_KEY");
        }
        other => panic!("expected the key refused, got {other:?}"),
    }
}

#[test]
fn debug_output_hides_the_secrets() {
    let mut pairs = SECRETS.to_vec();
    pairs.push(("OTP_TEST_NUMBERS", "+12015550123=424242"));
    let settings = Settings::from_lookup(&env(&pairs)).unwrap();
    let shown = format!("{settings:?}");
    for secret in ["0123456789abcdef", "fedcba9876543210", "424242", "5550123"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
