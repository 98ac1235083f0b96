//! Settings, read and validated once at start-up; a bad value names its variable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::phone::{NumberType, PhoneNumber};
use crate::secret::{HashKey, MIN_KEY_BYTES};

/// A setting that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The OTP policy: the shape of codes, their lifetime, and the attempt and send limits.
/// A send limit of 0 disables it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// SMS text with `{code}` and `{minutes}` placeholders (`SMS_MESSAGE_TEMPLATE`).
    pub message_template: String,
    /// Regions codes may be sent to (`OTP_ALLOWED_COUNTRIES`); `None` allows all.
    pub allowed_countries: Option<BTreeSet<String>>,
    /// Kinds of line no code is sent to (`OTP_BLOCKED_NUMBER_TYPES`).
    pub blocked_number_types: Vec<NumberType>,
    /// E.164 numbers that get a fixed code and no SMS (`OTP_TEST_NUMBERS`).
    pub test_numbers: BTreeMap<String, String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            code_length: 6,
            auth_code_length: 4,
            code_ttl_seconds: 300,
            max_attempts: 5,
            resend_cooldown_seconds: 30,
            max_sends_per_phone_per_hour: 5,
            max_sends_per_subject_per_hour: 10,
            max_sends_per_ip_per_hour: 50,
            message_template: "Your verification code is {code}. It expires in {minutes} minutes."
                .to_owned(),
            allowed_countries: None,
            blocked_number_types: vec![
                NumberType::FixedLine,
                NumberType::PremiumRate,
                NumberType::SharedCost,
            ],
            test_numbers: BTreeMap::new(),
        }
    }
}

/// Why a phone number may not be sent a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationRefusal {
    /// Its region is not in `OTP_ALLOWED_COUNTRIES`.
    CountryNotAllowed,
    /// Its kind of line is in `OTP_BLOCKED_NUMBER_TYPES`.
    UnsupportedNumberType,
}

impl Policy {
    /// The default policy with every send limit off: for fuzzing, and for tests about
    /// verification rather than sending.
    pub fn without_send_limits() -> Self {
        Self {
            resend_cooldown_seconds: 0,
            max_sends_per_phone_per_hour: 0,
            max_sends_per_subject_per_hour: 0,
            max_sends_per_ip_per_hour: 0,
            ..Self::default()
        }
    }

    /// Reads the policy through `lookup` (an environment), defaulting what is unset.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let policy = Self {
            code_length: parse_or(lookup, "OTP_LENGTH", defaults.code_length)?,
            auth_code_length: parse_or(lookup, "OTP_AUTH_CODE_LENGTH", defaults.auth_code_length)?,
            code_ttl_seconds: parse_or(lookup, "OTP_TTL_SECONDS", defaults.code_ttl_seconds)?,
            max_attempts: parse_or(lookup, "OTP_MAX_ATTEMPTS", defaults.max_attempts)?,
            resend_cooldown_seconds: parse_or(
                lookup,
                "OTP_RESEND_COOLDOWN_SECONDS",
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
            message_template: lookup("SMS_MESSAGE_TEMPLATE").unwrap_or(defaults.message_template),
            allowed_countries: optional(lookup, "OTP_ALLOWED_COUNTRIES")
                .map(|list| parse_countries(&list))
                .transpose()?,
            blocked_number_types: optional(lookup, "OTP_BLOCKED_NUMBER_TYPES")
                .map_or(Ok(defaults.blocked_number_types), |list| parse_number_types(&list))?,
            test_numbers: BTreeMap::new(),
        };
        let policy = Self {
            test_numbers: optional(lookup, "OTP_TEST_NUMBERS")
                .map(|list| parse_test_numbers(&list, policy.code_length))
                .transpose()?
                .unwrap_or_default(),
            ..policy
        };
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason: &str| ConfigError::Invalid { name, reason: reason.to_owned() };
        if !(4..=10).contains(&self.code_length) {
            return Err(invalid("OTP_LENGTH", "must be between 4 and 10"));
        }
        if !(4..=10).contains(&self.auth_code_length) {
            return Err(invalid("OTP_AUTH_CODE_LENGTH", "must be between 4 and 10"));
        }
        if !(1..=86_400).contains(&self.code_ttl_seconds) {
            return Err(invalid("OTP_TTL_SECONDS", "must be between 1 and 86400"));
        }
        if self.max_attempts == 0 {
            return Err(invalid("OTP_MAX_ATTEMPTS", "must be at least 1"));
        }
        if !self.message_template.contains("{code}") {
            return Err(invalid("SMS_MESSAGE_TEMPLATE", "must contain {code}"));
        }
        Ok(())
    }

    /// Why no code may be sent to `phone`, if that is so. Test numbers are never refused:
    /// they get no SMS.
    pub fn destination_refusal(&self, phone: &PhoneNumber) -> Option<DestinationRefusal> {
        if self.test_code(phone).is_some() {
            return None;
        }
        let region_allowed = |allowed: &BTreeSet<String>| {
            phone.region().is_some_and(|region| allowed.contains(region))
        };
        if self.allowed_countries.as_ref().is_some_and(|allowed| !region_allowed(allowed)) {
            Some(DestinationRefusal::CountryNotAllowed)
        } else if self.blocked_number_types.contains(&phone.number_type()) {
            Some(DestinationRefusal::UnsupportedNumberType)
        } else {
            None
        }
    }

    /// The fixed code of a test number.
    pub fn test_code(&self, phone: &PhoneNumber) -> Option<&str> {
        self.test_numbers.get(phone.e164()).map(String::as_str)
    }

    /// The SMS text for `code`.
    pub fn message(&self, code: &str) -> String {
        let minutes = self.code_ttl_seconds.div_ceil(60);
        self.message_template.replace("{minutes}", &minutes.to_string()).replace("{code}", code)
    }
}

/// `IN, us`: region codes, each known to libphonenumber.
fn parse_countries(list: &str) -> Result<BTreeSet<String>, ConfigError> {
    list.split(',')
        .map(|region| region.trim().to_ascii_uppercase())
        .filter(|region| !region.is_empty())
        .map(|region| match phonenumber::country::Id::from_str(&region) {
            Ok(_) => Ok(region),
            Err(_) => Err(ConfigError::Invalid {
                name: "OTP_ALLOWED_COUNTRIES",
                reason: format!("{region} is not a region code"),
            }),
        })
        .collect()
}

/// `fixed_line, premium_rate`, libphonenumber's type names, or `none`.
fn parse_number_types(list: &str) -> Result<Vec<NumberType>, ConfigError> {
    if list.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                ConfigError::Invalid {
                    name: "OTP_BLOCKED_NUMBER_TYPES",
                    reason: format!("{name} is not a number type (e.g. fixed_line, premium_rate)"),
                }
            })
        })
        .collect()
}

/// `+15555550100=123456, ...`: E.164 numbers with codes of the configured length.
fn parse_test_numbers(
    list: &str,
    code_length: usize,
) -> Result<BTreeMap<String, String>, ConfigError> {
    // Entries are named by position: the error is logged at start and must not carry a
    // number or a code.
    let invalid = |reason: String| ConfigError::Invalid { name: "OTP_TEST_NUMBERS", reason };
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(index, entry)| {
            let position = index + 1;
            let (number, code) = entry
                .split_once('=')
                .ok_or_else(|| invalid(format!("entry {position} is not NUMBER=CODE")))?;
            let phone = PhoneNumber::parse(number, "")
                .ok()
                .filter(|_| number.trim().starts_with('+'))
                .ok_or_else(|| invalid(format!("entry {position} is not a valid +E.164 number")))?;
            let code = code.trim();
            if code.len() != code_length || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!(
                    "the code of entry {position} must be {code_length} digits"
                )));
            }
            Ok((phone.e164().to_owned(), code.to_owned()))
        })
        .collect()
}

/// Where the keys that sign `user-jwt-token` JWTs come from: exactly one is configured.
#[derive(Clone)]
pub enum JwtKeys {
    /// A shared secret (`JWT_SECRET`), at least 32 bytes.
    Secret(Vec<u8>),
    /// One public key (`JWT_PUBLIC_KEY`, PEM), parsed at start-up.
    PublicKey(DecodingKey),
    /// An identity provider's key set (`JWT_JWKS_URL`), fetched at start-up.
    JwksUrl(String),
}

/// The kind of key a PEM holds, which fixes the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PemKind {
    Rsa,
    Ec,
    Ed,
}

/// How JWTs in the `user-jwt-token` header are checked (RFC 8725): the algorithms come from
/// here, never from the token.
#[derive(Clone)]
pub struct JwtSettings {
    pub keys: JwtKeys,
    /// Accepted `alg` values (`JWT_ALGORITHMS`); by default the one the key implies:
    /// HS256 for a secret, RS256, ES256 or EdDSA for a PEM key, RS256 for a JWKS.
    pub algorithms: Vec<Algorithm>,
    /// Required `iss` (`JWT_ISSUER`), when set.
    pub issuer: Option<String>,
    /// Required `aud` (`JWT_AUDIENCE`), when set.
    pub audience: Option<String>,
    /// The claim holding the user id (`JWT_SUBJECT_CLAIM`, default `sub`).
    pub subject_claim: String,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            JwtKeys::Secret(_) => "secret <redacted>".to_owned(),
            JwtKeys::PublicKey(_) => "public key".to_owned(),
            JwtKeys::JwksUrl(url) => format!("JWKS {url}"),
        };
        f.debug_struct("JwtSettings")
            .field("keys", &keys)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject_claim", &self.subject_claim)
            .finish()
    }
}

impl JwtSettings {
    /// HS256 with `secret`, no issuer or audience: for local use and tests.
    pub fn with_secret(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            keys: JwtKeys::Secret(secret.into()),
            algorithms: vec![Algorithm::HS256],
            issuer: None,
            audience: None,
            subject_claim: "sub".to_owned(),
        }
    }

    /// Reads the JWT settings through `lookup`: exactly one of `JWT_SECRET`,
    /// `JWT_PUBLIC_KEY` and `JWT_JWKS_URL`, and the optional rest.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = optional(lookup, "JWT_SECRET");
        let public_key = optional(lookup, "JWT_PUBLIC_KEY");
        let jwks_url = optional(lookup, "JWT_JWKS_URL");
        let (keys, implied) = match (secret, public_key, jwks_url) {
            (Some(secret), None, None) => {
                if secret.len() < MIN_KEY_BYTES {
                    return Err(ConfigError::Invalid {
                        name: "JWT_SECRET",
                        reason: format!("must be at least {MIN_KEY_BYTES} bytes"),
                    });
                }
                (JwtKeys::Secret(secret.into_bytes()), Algorithm::HS256)
            }
            (None, Some(pem), None) => {
                // Deployment tools often flatten a PEM's line breaks into "\n".
                let pem = pem.replace("\\n", "\n");
                let (key, kind) = parse_public_key(pem.as_bytes())?;
                let implied = match kind {
                    PemKind::Rsa => Algorithm::RS256,
                    PemKind::Ec => Algorithm::ES256,
                    PemKind::Ed => Algorithm::EdDSA,
                };
                (JwtKeys::PublicKey(key), implied)
            }
            (None, None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::Invalid {
                        name: "JWT_JWKS_URL",
                        reason: "must be an http(s) URL".to_owned(),
                    });
                }
                (JwtKeys::JwksUrl(url), Algorithm::RS256)
            }
            (None, None, None) => {
                return Err(ConfigError::Missing("JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL"));
            }
            _ => {
                return Err(ConfigError::Invalid {
                    name: "JWT_SECRET",
                    reason: "set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL".into(),
                });
            }
        };
        let algorithms = match optional(lookup, "JWT_ALGORITHMS") {
            None => vec![implied],
            Some(list) => parse_algorithms(&list, &keys)?,
        };
        Ok(Self {
            keys,
            algorithms,
            issuer: optional(lookup, "JWT_ISSUER"),
            audience: optional(lookup, "JWT_AUDIENCE"),
            subject_claim: optional(lookup, "JWT_SUBJECT_CLAIM").unwrap_or_else(|| "sub".into()),
        })
    }
}

/// A PEM public key and its kind: RSA, EC or Ed25519.
fn parse_public_key(pem: &[u8]) -> Result<(DecodingKey, PemKind), ConfigError> {
    DecodingKey::from_rsa_pem(pem)
        .map(|key| (key, PemKind::Rsa))
        .or_else(|_| DecodingKey::from_ec_pem(pem).map(|key| (key, PemKind::Ec)))
        .or_else(|_| DecodingKey::from_ed_pem(pem).map(|key| (key, PemKind::Ed)))
        .map_err(|_| ConfigError::Invalid {
            name: "JWT_PUBLIC_KEY",
            reason: "not a PEM RSA, EC or Ed25519 public key".to_owned(),
        })
}

/// `RS256, PS256`: algorithm names, all of the family the keys allow. A secret allows
/// only HMAC; public keys allow only signatures, so the two are never mixed.
fn parse_algorithms(list: &str, keys: &JwtKeys) -> Result<Vec<Algorithm>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "JWT_ALGORITHMS", reason };
    let algorithms = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| Algorithm::from_str(name).map_err(|_| invalid(format!("{name} is unknown"))))
        .collect::<Result<Vec<_>, _>>()?;
    let symmetric =
        |alg: &Algorithm| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
    let secret = matches!(keys, JwtKeys::Secret(_));
    if algorithms.is_empty() || algorithms.iter().any(|alg| symmetric(alg) != secret) {
        let family =
            if secret { "HS256, HS384 or HS512" } else { "asymmetric (RS*, PS*, ES*, EdDSA)" };
        return Err(invalid(format!("must be {family} for the configured key")));
    }
    Ok(algorithms)
}

/// Everything the API needs, read from one environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: Policy,
    pub jwt: JwtSettings,
    /// Key for the HMAC of codes and identifiers (`OTP_HASH_KEY`), at least 32 bytes.
    pub hash_key: HashKey,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which maps a variable name to its value.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let hash_key = HashKey::new(required(lookup, "OTP_HASH_KEY")?).map_err(|short| {
            ConfigError::Invalid { name: "OTP_HASH_KEY", reason: short.to_string() }
        })?;
        Ok(Self {
            policy: Policy::from_lookup(lookup)?,
            jwt: JwtSettings::from_lookup(lookup)?,
            hash_key,
        })
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
    match optional(lookup, name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|error: T::Err| ConfigError::Invalid { name, reason: error.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
        assert_eq!(settings.jwt.algorithms, [Algorithm::HS256]);
        assert_eq!(settings.jwt.subject_claim, "sub");
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
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "otp-api"),
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
        assert_eq!(policy.message("123456"), "123456 (2 min)");
        assert_eq!(settings.jwt.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(settings.jwt.audience.as_deref(), Some("otp-api"));
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
            ("SMS_MESSAGE_TEMPLATE", "no placeholder"),
            ("JWT_SECRET", "short"),
            ("JWT_ALGORITHMS", "RS256"),
            ("JWT_ALGORITHMS", "HS256,XS1"),
            ("OTP_HASH_KEY", "short"),
        ];
        for (name, value) in cases {
            let mut pairs = SECRETS.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            match Settings::from_lookup(&env(&pairs)) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}={value}: expected an error naming it, got {other:?}"),
            }
        }
    }

    #[test]
    fn destinations_are_checked_against_countries_and_number_types() {
        let mut pairs = SECRETS.to_vec();
        pairs.push(("OTP_ALLOWED_COUNTRIES", " in, US "));
        let policy = Settings::from_lookup(&env(&pairs)).unwrap().policy;
        let phone = |number| PhoneNumber::parse(number, "").unwrap();
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
        let open = Policy { blocked_number_types: Vec::new(), ..Policy::default() };
        assert_eq!(open.destination_refusal(&phone("+911123456789")), None);
        assert_eq!(open.destination_refusal(&phone("+447400123456")), None);
    }

    #[test]
    fn list_settings_parse_and_name_their_variable_when_wrong() {
        let mut pairs = SECRETS.to_vec();
        pairs.extend([
            ("OTP_BLOCKED_NUMBER_TYPES", "premium_rate, VOIP"),
            ("OTP_TEST_NUMBERS", "+1 201 555 0123=123456, +919876543219=000000"),
        ]);
        let policy = Settings::from_lookup(&env(&pairs)).unwrap().policy;
        assert_eq!(policy.blocked_number_types, [NumberType::PremiumRate, NumberType::Voip]);
        let test_numbers: Vec<_> =
            policy.test_numbers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(test_numbers, [("+12015550123", "123456"), ("+919876543219", "000000")]);

        let none = [SECRETS.as_slice(), &[("OTP_BLOCKED_NUMBER_TYPES", "none")]].concat();
        assert!(Settings::from_lookup(&env(&none)).unwrap().policy.blocked_number_types.is_empty());

        let cases = [
            ("OTP_ALLOWED_COUNTRIES", "IN,XX"),
            ("OTP_BLOCKED_NUMBER_TYPES", "landline"),
            ("OTP_TEST_NUMBERS", "+12015550123"),
            ("OTP_TEST_NUMBERS", "2015550123=123456"),
            ("OTP_TEST_NUMBERS", "+12015550123=1234"),
        ];
        for (name, value) in cases {
            let pairs = [SECRETS.as_slice(), &[(name, value)]].concat();
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
    fn public_keys_imply_their_algorithm_and_refuse_others() {
        let cases = [
            (include_str!("../tests/keys/rsa-public.pem"), Algorithm::RS256),
            (include_str!("../tests/keys/ec-public.pem"), Algorithm::ES256),
            (include_str!("../tests/keys/ed-public.pem"), Algorithm::EdDSA),
        ];
        for (pem, implied) in cases {
            let flattened = pem.replace('\n', "\\n");
            for pem in [pem, flattened.as_str()] {
                let jwt = JwtSettings::from_lookup(&env(&[("JWT_PUBLIC_KEY", pem)])).unwrap();
                assert!(matches!(jwt.keys, JwtKeys::PublicKey(_)));
                assert_eq!(jwt.algorithms, [implied]);
            }
            let hmac = env(&[("JWT_PUBLIC_KEY", pem), ("JWT_ALGORITHMS", "HS256")]);
            assert!(JwtSettings::from_lookup(&hmac).is_err(), "never HMAC with a public key");
        }
        let jwks =
            env(&[("JWT_JWKS_URL", "https://idp.example/jwks.json"), ("JWT_SUBJECT_CLAIM", "uid")]);
        let jwt = JwtSettings::from_lookup(&jwks).unwrap();
        assert_eq!(
            (jwt.algorithms.as_slice(), jwt.subject_claim.as_str()),
            ([Algorithm::RS256].as_slice(), "uid")
        );

        let refused = [
            ("JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"),
            ("JWT_JWKS_URL", "ftp://idp.example/jwks"),
        ];
        for (name, value) in refused {
            match JwtSettings::from_lookup(&env(&[(name, value)])) {
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
    fn message_rounds_minutes_up() {
        let policy = Policy { code_ttl_seconds: 61, ..Policy::default() };
        assert_eq!(
            policy.message("042"),
            "Your verification code is 042. It expires in 2 minutes."
        );
    }

    #[test]
    fn debug_output_hides_the_jwt_secret() {
        let settings = Settings::from_lookup(&env(&SECRETS)).unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("fedcba9876543210"), "{shown}");
    }
}
