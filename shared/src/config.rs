//! Reads the environment, once at start-up, into the typed settings the rest of the crate
//! applies ([`Policy`], [`JwtSettings`], the hash key). Reading is all this module does; a
//! missing or bad value names its variable.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use crate::jwt::{Algorithms, JwtKeys, JwtSettings, parse_public_key};
use crate::otp::Policy;
use crate::otp::breaker::BreakerSettings;
use crate::otp::destinations::{Countries, CountryLimits, Prefixes};
use crate::otp::message::{CountryLocales, MessageError, Messages, Templates};
use crate::secret::{HashKey, MIN_KEY_BYTES};
use crate::sms::senders::{Sender, Senders};
use crate::verification_token::VerificationTokens;

/// The repository's examples: a secret that appears in them is public, and refused.
const EXAMPLES: [&str; 13] = [
    include_str!("../../README.md"),
    include_str!("../../docs/api.md"),
    include_str!("../../docs/architecture.md"),
    include_str!("../../docs/configuration.md"),
    include_str!("../../docs/deploying.md"),
    include_str!("../../docs/operating.md"),
    include_str!("../../docs/performance.md"),
    include_str!("../../docs/pumping.md"),
    include_str!("../../docs/security.md"),
    include_str!("../../docs/sms-delivery.md"),
    include_str!("../../docs/testing.md"),
    include_str!("../../events/env.json"),
    include_str!("../../events/local.env"),
];

/// The variable that lets the examples' own secrets through, for `sam local invoke` and
/// `cargo lambda watch` with the files in `events/`. Never set it in a deployment.
pub const ALLOW_EXAMPLE_SECRETS: &str = "ALLOW_EXAMPLE_SECRETS";

/// The default of every variable that has one, as text: what `template.yaml` and the table
/// of docs/configuration.md must say (a test compares them), and what reading the variable
/// unset gives (a unit test below checks that).
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
    ("OTP_BLOCKED_NUMBER_TYPES", "fixed_line,premium_rate,shared_cost"),
    ("OTP_BREAKER_MODE", "enforce"),
    ("OTP_BREAKER_PREFIX_DIGITS", "5"),
    ("OTP_BREAKER_MIN_SENDS", "20"),
    ("OTP_BREAKER_COUNTRY_MIN_SENDS", "100"),
    ("OTP_BREAKER_MIN_CONVERSION", "0.2"),
    ("OTP_BREAKER_COOLDOWN_SECONDS", "3600"),
    ("SMS_ALLOW_MULTIPART", "false"),
    ("OTP_WARM_CLIENTS", "true"),
    ("VERIFICATION_TOKEN_TTL_SECONDS", "300"),
];

/// Seconds a verification token is valid when `VERIFICATION_TOKEN_TTL_SECONDS` is unset.
const DEFAULT_VERIFICATION_TOKEN_TTL_SECONDS: u64 = 300;

/// How long JWKS keys are cached when `JWT_JWKS_MAX_AGE_SECONDS` is unset.
const DEFAULT_JWKS_MAX_AGE_SECONDS: u64 = 3600;

/// A setting that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable must be set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// The variable's value is not acceptable, for `reason`.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it; never the value itself, which may be a secret.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(name: &'static str, reason: impl Display) -> Self {
        Self::Invalid { name, reason: reason.to_string() }
    }
}

/// Everything the API needs, read from one environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The OTP policy.
    pub policy: Policy,
    /// How `user-jwt-token` is checked.
    pub jwt: JwtSettings,
    /// Key for the HMAC of codes and identifiers (`OTP_HASH_KEY`), at least 32 bytes.
    pub hash_key: HashKey,
    /// The signer of verification tokens (`VERIFICATION_TOKEN_*`), when a key is set.
    pub verification_tokens: Option<VerificationTokens>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which maps a variable name to its value.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let allow_examples = parse_or(lookup, ALLOW_EXAMPLE_SECRETS, false)?;
        for name in ["JWT_SECRET", "OTP_HASH_KEY", "VERIFICATION_TOKEN_PRIVATE_KEY"] {
            if let Some(value) = optional(lookup, name)
                && !allow_examples
                && is_example(&value)
            {
                let reason = "is an example value from this repository's README, docs/ or \
                              events/; generate your own (see docs/deploying.md, Secrets)";
                return Err(ConfigError::invalid(name, reason));
            }
        }
        let hash_key = HashKey::new(required(lookup, "OTP_HASH_KEY")?)
            .map_err(|short| ConfigError::invalid("OTP_HASH_KEY", short))?;
        Ok(Self {
            policy: Policy::from_lookup(lookup)?,
            jwt: JwtSettings::from_lookup(lookup)?,
            hash_key,
            verification_tokens: verification_tokens(lookup)?,
        })
    }
}

/// Whether a secret appears in the repository's examples. A PEM key is compared by its
/// base64 body, whatever its line breaks.
fn is_example(secret: &str) -> bool {
    let flat = |text: &str| -> String {
        text.replace("\\n", "").chars().filter(|c| !c.is_whitespace()).collect()
    };
    let secret = flat(secret);
    let body = secret.split("-----").find(|part| part.len() >= MIN_KEY_BYTES).unwrap_or(&secret);
    body.len() >= 16 && EXAMPLES.iter().any(|example| flat(example).contains(body))
}

/// The verification token signer, when `VERIFICATION_TOKEN_PRIVATE_KEY` is set; its
/// issuer is then required.
fn verification_tokens(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<VerificationTokens>, ConfigError> {
    let Some(pem) = optional(lookup, "VERIFICATION_TOKEN_PRIVATE_KEY") else {
        return Ok(None);
    };
    let issuer = required(lookup, "VERIFICATION_TOKEN_ISSUER")?;
    let audience = optional(lookup, "VERIFICATION_TOKEN_AUDIENCE");
    let ttl = parse_in(
        lookup,
        "VERIFICATION_TOKEN_TTL_SECONDS",
        1..=86_400,
        DEFAULT_VERIFICATION_TOKEN_TTL_SECONDS,
    )?;
    VerificationTokens::from_pem(&pem, issuer, audience, ttl)
        .map(Some)
        .map_err(|error| ConfigError::invalid("VERIFICATION_TOKEN_PRIVATE_KEY", error))
}

impl Policy {
    /// Reads the policy through `lookup`, defaulting what is unset.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let code_length = parse_in(lookup, "OTP_LENGTH", 4..=10, defaults.code_length)?;
        let code_ttl_seconds =
            parse_in(lookup, "OTP_TTL_SECONDS", 1..=86_400, defaults.code_ttl_seconds)?;
        let test_numbers = parse_or(lookup, "OTP_TEST_NUMBERS", defaults.test_numbers)?;
        test_numbers
            .check_code_length(code_length)
            .map_err(|reason| ConfigError::invalid("OTP_TEST_NUMBERS", reason))?;
        Ok(Self {
            code_length,
            auth_code_length: parse_in(
                lookup,
                "OTP_AUTH_CODE_LENGTH",
                4..=10,
                defaults.auth_code_length,
            )?,
            code_ttl_seconds,
            max_attempts: parse_in(
                lookup,
                "OTP_MAX_ATTEMPTS",
                1..=u32::MAX,
                defaults.max_attempts,
            )?,
            resend_cooldown_seconds: parse_in(
                lookup,
                "OTP_RESEND_COOLDOWN_SECONDS",
                0..=86_400,
                defaults.resend_cooldown_seconds,
            )?,
            max_sends_per_phone_per_hour: parse_or(
                lookup,
                "OTP_MAX_SENDS_PER_PHONE_PER_HOUR",
                defaults.max_sends_per_phone_per_hour,
            )?,
            max_sends_per_subject_per_hour: parse_or(
                lookup,
                "OTP_MAX_SENDS_PER_SUBJECT_PER_HOUR",
                defaults.max_sends_per_subject_per_hour,
            )?,
            max_sends_per_ip_per_hour: parse_or(
                lookup,
                "OTP_MAX_SENDS_PER_IP_PER_HOUR",
                defaults.max_sends_per_ip_per_hour,
            )?,
            max_failed_verifications_per_subject_per_day: parse_or(
                lookup,
                "OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY",
                defaults.max_failed_verifications_per_subject_per_day,
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
            breaker: breaker(lookup, &defaults.breaker)?,
            messages: messages(lookup, code_length, code_ttl_seconds)?,
            allowed_countries: match optional(lookup, "OTP_ALLOWED_COUNTRIES") {
                Some(all) if all.trim() == "*" => None,
                _ => optional_parse(lookup, "OTP_ALLOWED_COUNTRIES")?,
            },
            denied_countries: parse_or(lookup, "OTP_DENIED_COUNTRIES", Countries::default())?,
            denied_prefixes: parse_or(lookup, "OTP_DENIED_PREFIXES", Prefixes::default())?,
            blocked_number_types: parse_or(
                lookup,
                "OTP_BLOCKED_NUMBER_TYPES",
                defaults.blocked_number_types,
            )?,
            test_numbers,
        })
    }
}

/// The conversion breaker's settings (`OTP_BREAKER_*`).
fn breaker(
    lookup: &impl Fn(&str) -> Option<String>,
    defaults: &BreakerSettings,
) -> Result<BreakerSettings, ConfigError> {
    Ok(BreakerSettings {
        mode: parse_or(lookup, "OTP_BREAKER_MODE", defaults.mode)?,
        prefix_digits: parse_in(
            lookup,
            "OTP_BREAKER_PREFIX_DIGITS",
            1..=15,
            defaults.prefix_digits,
        )?,
        min_sends: parse_in(lookup, "OTP_BREAKER_MIN_SENDS", 1..=u32::MAX, defaults.min_sends)?,
        country_min_sends: parse_in(
            lookup,
            "OTP_BREAKER_COUNTRY_MIN_SENDS",
            1..=u32::MAX,
            defaults.country_min_sends,
        )?,
        min_conversion: parse_or(lookup, "OTP_BREAKER_MIN_CONVERSION", defaults.min_conversion)?,
        cooldown_seconds: parse_in(
            lookup,
            "OTP_BREAKER_COOLDOWN_SECONDS",
            60..=86_400,
            defaults.cooldown_seconds,
        )?,
    })
}

/// The SMS texts: built-in and configured templates, languages, app name and autofill
/// lines; each locale's message must fit one segment unless `SMS_ALLOW_MULTIPART`.
fn messages(
    lookup: &impl Fn(&str) -> Option<String>,
    code_length: usize,
    code_ttl_seconds: u64,
) -> Result<Messages, ConfigError> {
    let mut templates: Templates = parse_or(lookup, "SMS_MESSAGE_TEMPLATES", Templates::default())?;
    if let Some(english) = optional(lookup, "SMS_MESSAGE_TEMPLATE") {
        templates = templates
            .with_fallback("en", &english)
            .map_err(|error| ConfigError::invalid("SMS_MESSAGE_TEMPLATE", error))?;
    }
    let locales = optional(lookup, "SMS_LOCALES").map(|list| {
        list.split(',')
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect::<Vec<_>>()
    });
    let messages = Messages::default()
        .with_templates(&templates, locales.as_deref())
        .map_err(|error| ConfigError::invalid("SMS_LOCALES", error))?
        .with_details(
            parse_or(lookup, "SMS_DEFAULT_LOCALES", CountryLocales::default())?,
            optional_parse::<AppName>(lookup, "SMS_APP_NAME")?.map(|name| name.0),
            optional_parse::<WebOtpDomain>(lookup, "SMS_WEBOTP_DOMAIN")?.map(|domain| domain.0),
            optional_parse::<AndroidAppHash>(lookup, "SMS_ANDROID_APP_HASH")?.map(|hash| hash.0),
        );
    if parse_or(lookup, "SMS_ALLOW_MULTIPART", false)? {
        return Ok(messages);
    }
    // A built-in locale the operator did not name (in SMS_LOCALES or with a template of
    // their own) that cannot carry the autofill lines in one segment is left out with a
    // warning: the operator asked for autofill, not for that language. One they named
    // still stops the start.
    let minutes = code_ttl_seconds.div_ceil(60);
    let named = |locale: &str| locales.is_some() || templates.has(locale);
    match messages.fitting_one_segment(code_length, minutes, named) {
        Ok((messages, left_out)) => {
            for error in left_out {
                tracing::warn!(
                    "SMS_LOCALES: {error}; that built-in language is left out (English or another \
                     language serves its users): name it in SMS_LOCALES with a shorter \
                     SMS_MESSAGE_TEMPLATES text, or set SMS_ALLOW_MULTIPART=true, to keep it"
                );
            }
            Ok(messages)
        }
        Err(error) => {
            let overridden =
                matches!(&error, MessageError::TooLong { locale, .. } if templates.has(locale));
            let name = if overridden { "SMS_MESSAGE_TEMPLATES" } else { "SMS_LOCALES" };
            Err(ConfigError::invalid(name, error))
        }
    }
}

/// The app's name in messages (`SMS_APP_NAME`): 1 to 30 characters, no braces.
struct AppName(String);

impl FromStr for AppName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        let fine = (1..=30).contains(&name.chars().count()) && !name.contains(['{', '}', '\n']);
        fine.then(|| Self(name.to_owned()))
            .ok_or_else(|| "must be 1 to 30 characters, without braces or line breaks".into())
    }
}

/// The web origin's host the WebOTP line names (`SMS_WEBOTP_DOMAIN`), as `app.example.com`.
struct WebOtpDomain(String);

impl FromStr for WebOtpDomain {
    type Err = String;

    fn from_str(domain: &str) -> Result<Self, Self::Err> {
        let domain = domain.trim().to_ascii_lowercase();
        let label = |label: &str| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        let fine = domain.len() <= 253 && domain.contains('.') && domain.split('.').all(label);
        fine.then_some(Self(domain)).ok_or_else(|| {
            "must be a host name such as app.example.com, without scheme, port or path".into()
        })
    }
}

/// The 11-character hash Android's SMS Retriever API matches the app by
/// (`SMS_ANDROID_APP_HASH`).
struct AndroidAppHash(String);

impl FromStr for AndroidAppHash {
    type Err = String;

    fn from_str(hash: &str) -> Result<Self, Self::Err> {
        let hash = hash.trim();
        let fine = hash.len() == 11
            && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        fine.then(|| Self(hash.to_owned()))
            .ok_or_else(|| "must be exactly 11 characters of the base64 alphabet".into())
    }
}

impl JwtSettings {
    /// Reads the JWT settings through `lookup`: exactly one of `JWT_SECRET`,
    /// `JWT_PUBLIC_KEY` and `JWT_JWKS_URL`, and the rest. With a public key or a JWKS,
    /// `JWT_ISSUER` and `JWT_AUDIENCE` are required: a provider's keys sign tokens for
    /// many projects, and only these two claims say a token was minted for this one. A
    /// secret is this deployment's own, so they stay optional with it.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = optional(lookup, "JWT_SECRET");
        let public_key = optional(lookup, "JWT_PUBLIC_KEY");
        let jwks_url = optional(lookup, "JWT_JWKS_URL");
        let (keys, implied) = match (secret, public_key, jwks_url) {
            (Some(secret), None, None) => {
                if secret.len() < MIN_KEY_BYTES {
                    let reason = format!("must be at least {MIN_KEY_BYTES} bytes");
                    return Err(ConfigError::invalid("JWT_SECRET", reason));
                }
                let keys = JwtKeys::Secret(secret.into_bytes());
                let implied = keys.implied_algorithm();
                (keys, implied)
            }
            (None, Some(pem), None) => {
                let (key, implied) = parse_public_key(&pem).ok_or_else(|| {
                    ConfigError::invalid(
                        "JWT_PUBLIC_KEY",
                        "not a PEM RSA, EC or Ed25519 public key",
                    )
                })?;
                (JwtKeys::PublicKey(key), implied)
            }
            (None, None, Some(url)) => {
                check_jwks_url(&url)?;
                let keys = JwtKeys::JwksUrl(url);
                let implied = keys.implied_algorithm();
                (keys, implied)
            }
            (None, None, None) => {
                return Err(ConfigError::Missing("JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL"));
            }
            _ => {
                let reason = "set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL";
                return Err(ConfigError::invalid("JWT_SECRET", reason));
            }
        };
        let algorithms: Algorithms = parse_or(lookup, "JWT_ALGORITHMS", implied.into())?;
        algorithms
            .check_family(&keys)
            .map_err(|reason| ConfigError::invalid("JWT_ALGORITHMS", reason))?;
        let (issuer, audience) = match keys {
            JwtKeys::Secret(_) => {
                (optional(lookup, "JWT_ISSUER"), optional(lookup, "JWT_AUDIENCE"))
            }
            JwtKeys::PublicKey(_) | JwtKeys::JwksUrl(_) => {
                (Some(required(lookup, "JWT_ISSUER")?), Some(required(lookup, "JWT_AUDIENCE")?))
            }
        };
        let max_age = parse_in(
            lookup,
            "JWT_JWKS_MAX_AGE_SECONDS",
            60..=604_800,
            DEFAULT_JWKS_MAX_AGE_SECONDS,
        )?;
        Ok(Self {
            keys,
            algorithms,
            issuer,
            audience,
            subject_claim: optional(lookup, "JWT_SUBJECT_CLAIM").unwrap_or_else(|| "sub".into()),
            jwks_max_age: Duration::from_secs(max_age),
        })
    }
}

/// A JWKS URL must be `https`: keys fetched in clear could be swapped on the way. Plain
/// `http` is accepted for a loopback host only, for tests.
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::invalid("JWT_JWKS_URL", reason);
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("is not a URL"))?;
    let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match uri.scheme_str() {
        Some("https") if uri.host().is_some() => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(invalid("must be an https URL (http only for a loopback host)")),
    }
}

/// A variable that must be set and non-empty.
pub fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, name).ok_or(ConfigError::Missing(name))
}

/// A variable's value, with an empty value counted as unset.
pub fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

/// A variable parsed as `T`, or `None` when unset.
pub fn optional_parse<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    optional(lookup, name)
        .map(|value| value.trim().parse().map_err(|error| ConfigError::invalid(name, error)))
        .transpose()
}

/// A variable parsed as `T`, or `default` when unset.
pub fn parse_or<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(optional_parse(lookup, name)?.unwrap_or(default))
}

/// A number within `range`, or `default` when unset.
pub fn parse_in<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: RangeInclusive<T>,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display,
    T::Err: Display,
{
    let value = parse_or(lookup, name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        let (low, high) = range.into_inner();
        Err(ConfigError::invalid(name, format!("must be between {low} and {high}")))
    }
}

/// The settings that may come from Secrets Manager or Parameter Store, each with the
/// variables that name its secret and its parameter.
pub const SECRET_VARIABLES: [(&str, &str, &str); 4] = [
    ("JWT_SECRET", "JWT_SECRET_SECRET_ARN", "JWT_SECRET_PARAMETER"),
    ("OTP_HASH_KEY", "OTP_HASH_KEY_SECRET_ARN", "OTP_HASH_KEY_PARAMETER"),
    ("OTP_TEST_NUMBERS", "OTP_TEST_NUMBERS_SECRET_ARN", "OTP_TEST_NUMBERS_PARAMETER"),
    (
        "VERIFICATION_TOKEN_PRIVATE_KEY",
        "VERIFICATION_TOKEN_PRIVATE_KEY_SECRET_ARN",
        "VERIFICATION_TOKEN_PRIVATE_KEY_PARAMETER",
    ),
];

/// Settings of the AWS adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Who SMS are sent as, per destination country (`SMS_SENDER_ID`, `SMS_SENDERS`, ...).
    pub senders: Senders,
}

impl AwsSettings {
    /// Reads the adapters' settings through `lookup`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut global = Sender::default();
        let variables = [
            ("SMS_ORIGINATION_NUMBER", "origination_number"),
            ("SMS_SENDER_ID", "sender_id"),
            ("SMS_MAX_PRICE_USD", "max_price_usd"),
            ("SMS_DLT_ENTITY_ID", "dlt_entity_id"),
            ("SMS_DLT_TEMPLATE_ID", "dlt_template_id"),
        ];
        for (name, field) in variables {
            if let Some(value) = optional(lookup, name) {
                global
                    .set(field, &value)
                    .map_err(|error| ConfigError::Invalid { name, reason: error.to_string() })?;
            }
        }
        let by_country = optional_parse(lookup, "SMS_SENDERS")?.unwrap_or_default();
        Ok(Self {
            table_name: required(lookup, "TABLE_NAME")?,
            senders: Senders::new(global, by_country),
        })
    }
}

/// Checks, without AWS, every setting the functions read besides [`Settings`]: what
/// `otp-local` runs, with the functions' errors, so that a configuration that starts on a
/// laptop starts in AWS too. Only what AWS alone has is left out: `TABLE_NAME` may be
/// unset, and a secret given by reference (`<NAME>_SECRET_ARN`, `<NAME>_PARAMETER`) is an
/// error, since there is nothing to fetch it from: give its value instead.
pub fn check_without_aws(lookup: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for (value, secret_arn, parameter) in SECRET_VARIABLES {
        if let Some(reference) =
            [secret_arn, parameter].into_iter().find(|name| lookup(name).is_some())
        {
            return Err(ConfigError::Invalid {
                name: reference,
                reason: format!(
                    "names a secret in AWS, which is not reached here; set {value} instead"
                ),
            });
        }
    }
    let with_table = |name: &str| match name {
        "TABLE_NAME" => lookup(name).or_else(|| Some("otp-local".to_owned())),
        _ => lookup(name),
    };
    AwsSettings::from_lookup(&with_table)?;
    parse_or::<bool>(lookup, "OTP_WARM_CLIENTS", true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use jsonwebtoken::Algorithm;

    use super::*;
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
        assert_eq!(
            (policy.code_length, policy.auth_code_length, policy.code_ttl_seconds),
            (8, 5, 90)
        );
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
        assert_eq!(
            (breaker.prefix_digits, breaker.min_sends, breaker.cooldown_seconds),
            (6, 40, 600)
        );
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
    fn jwt_key_sources_are_exclusive_and_imply_their_algorithm() {
        let cases = [
            (include_str!("../../testkit/keys/rsa-public.pem"), Algorithm::RS256),
            (include_str!("../../testkit/keys/ec-public.pem"), Algorithm::ES256),
            (include_str!("../../testkit/keys/ed-public.pem"), Algorithm::EdDSA),
        ];
        let claims = [("JWT_ISSUER", "https://idp.example"), ("JWT_AUDIENCE", "otp-api")];
        let with_claims = |pairs: &[(&str, &str)]| env(&[&claims[..], pairs].concat());
        for (pem, implied) in cases {
            let jwt = JwtSettings::from_lookup(&with_claims(&[("JWT_PUBLIC_KEY", pem)])).unwrap();
            assert!(matches!(jwt.keys, JwtKeys::PublicKey(_)));
            assert_eq!(jwt.algorithms.as_slice(), [implied]);
            let hmac = with_claims(&[("JWT_PUBLIC_KEY", pem), ("JWT_ALGORITHMS", "HS256")]);
            assert!(JwtSettings::from_lookup(&hmac).is_err(), "never HMAC with a public key");
        }
        let jwks = with_claims(&[("JWT_JWKS_URL", "https://idp.example/jwks.json")]);
        assert_eq!(
            JwtSettings::from_lookup(&jwks).unwrap().algorithms.as_slice(),
            [Algorithm::RS256]
        );

        let refused = [
            ("JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"),
            ("JWT_JWKS_URL", "ftp://idp.example/jwks"),
            ("JWT_JWKS_URL", "http://idp.example/jwks.json"),
            ("JWT_JWKS_URL", "https:///jwks.json"),
        ];
        for (name, value) in refused {
            match JwtSettings::from_lookup(&with_claims(&[(name, value)])) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}: expected an error naming it, got {other:?}"),
            }
        }
        let both = env(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_JWKS_URL", "https://idp.example/jwks.json"),
        ]);
        assert!(JwtSettings::from_lookup(&both).is_err(), "one key source only");
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
    fn public_keys_and_jwks_require_issuer_and_audience_secrets_do_not() {
        let pem = include_str!("../../testkit/keys/rsa-public.pem");
        let sources = [("JWT_PUBLIC_KEY", pem), ("JWT_JWKS_URL", "https://idp.example/jwks.json")];
        for source in sources {
            let missing = |pairs: &[(&str, &str)]| {
                JwtSettings::from_lookup(&env(&[&[source], pairs].concat())).unwrap_err()
            };
            assert_eq!(missing(&[]), ConfigError::Missing("JWT_ISSUER"));
            let issuer_only = [("JWT_ISSUER", "https://idp.example")];
            assert_eq!(missing(&issuer_only), ConfigError::Missing("JWT_AUDIENCE"));
            assert_eq!(missing(&[("JWT_AUDIENCE", "otp-api")]), ConfigError::Missing("JWT_ISSUER"));
        }
        let secret = env(&[SECRETS[0]]);
        assert!(JwtSettings::from_lookup(&secret).is_ok(), "a secret is this deployment's own");
    }

    #[test]
    fn jwks_urls_are_https_but_for_loopback_hosts() {
        let claims = [("JWT_ISSUER", "i"), ("JWT_AUDIENCE", "a")];
        for url in ["http://127.0.0.1:9000/jwks", "http://localhost/jwks", "http://[::1]:80/jwks"] {
            let pairs = [&claims[..], &[("JWT_JWKS_URL", url)]].concat();
            assert!(JwtSettings::from_lookup(&env(&pairs)).is_ok(), "{url}");
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
        let ed = include_str!("../../testkit/keys/ed-private.pem");
        let rsa = include_str!("../../testkit/keys/rsa-private.pem");
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
}
