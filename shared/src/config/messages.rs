//! Reads the SMS texts (`SMS_*`); how they are rendered and measured lives in
//! `crate::otp::message`.

use std::str::FromStr;

use super::ConfigError;
use super::defaults::parse_default;
use super::read::{optional, optional_parse, parse_or};
use crate::otp::message::{CountryLocales, MessageError, Messages, Templates};
use crate::sms::segments;

/// The SMS texts: built-in and configured templates, languages, app name and autofill
/// lines; each locale's message must fit one segment unless `SMS_ALLOW_MULTIPART`.
pub(super) fn messages(
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
    if parse_default::<bool>(lookup, "SMS_ALLOW_MULTIPART")? {
        return Ok(messages);
    }
    // A built-in locale the operator did not name (in SMS_LOCALES or with a template of
    // their own) that cannot carry the autofill lines in one segment is left out with a
    // warning: the operator asked for autofill, not for that language. One they named
    // still stops the start.
    let minutes = code_ttl_seconds.div_ceil(60);
    let named = |locale: &str| locales.is_some() || templates.has(locale);
    match segments::fit_one_segment(messages, code_length, minutes, named) {
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
