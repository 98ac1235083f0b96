//! Locale tags as templates are keyed, their fallbacks, and the country defaults.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::otp::destinations::InvalidList;

/// The locale every send falls back to.
pub const FALLBACK_LOCALE: &str = "en";

/// A locale as templates are keyed: a lower-case BCP 47 tag (`hi`, `pt-br`).
pub(crate) fn normalise(tag: &str) -> Option<String> {
    let tag = tag.trim().replace('_', "-").to_ascii_lowercase();
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    valid.then_some(tag)
}

/// `tag` and its shorter prefixes, most specific first: `zh-hant-tw`, `zh-hant`, `zh`.
pub(super) fn fallbacks(tag: &str) -> impl Iterator<Item = &str> {
    let mut cut = Some(tag.len());
    std::iter::from_fn(move || {
        let end = cut?;
        let prefix = &tag[..end];
        cut = prefix.rfind('-');
        Some(prefix)
    })
}

/// `IN:hi,BR:pt`: the language a country's phones get when the client asks for none we
/// have (`SMS_DEFAULT_LOCALES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryLocales(pub(super) BTreeMap<String, String>);

impl FromStr for CountryLocales {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                let invalid =
                    || InvalidList::new(format!("entry {} is not COUNTRY:LOCALE", index + 1));
                let (country, locale) = entry.split_once(':').ok_or_else(invalid)?;
                let country = country.trim().to_ascii_uppercase();
                if !crate::phone::is_destination_code(&country) {
                    return Err(invalid());
                }
                Ok((country, normalise(locale).ok_or_else(invalid)?))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}
