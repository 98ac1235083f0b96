//! The message text: the language it is written in and the autofill lines phones and
//! browsers read the code from. What it costs on a channel is the sender's to count
//! (`crate::sms::segments` for SMS).
//!
//! A send's language is the first of: the `locale` the client asked for, its
//! `Accept-Language` (read by [`crate::http::accept_language`]), the default of the phone's
//! country (`SMS_DEFAULT_LOCALES`), English. A locale with no template falls back down that
//! list; it is never an error.

mod error;
mod locales;
mod templates;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

pub use error::MessageError;
pub use locales::{CountryLocales, FALLBACK_LOCALE};
pub use templates::Templates;

pub(crate) use locales::normalise;

use locales::fallbacks;
use templates::{Template, webotp_line};

/// A rendered message, for any channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The text, code and autofill lines included.
    pub text: String,
    /// The locale of the template it was rendered from.
    pub locale: String,
}

/// Every setting that shapes the SMS text.
#[derive(Clone, PartialEq, Eq)]
pub struct Messages {
    templates: BTreeMap<String, Template>,
    country_locales: CountryLocales,
    app_name: Option<String>,
    webotp_domain: Option<String>,
    android_app_hash: Option<String>,
}

impl Default for Messages {
    fn default() -> Self {
        Self {
            templates: templates::built_in(),
            country_locales: CountryLocales::default(),
            app_name: None,
            webotp_domain: None,
            android_app_hash: None,
        }
    }
}

impl Messages {
    /// The built-in templates with `templates` added or put in their place, restricted to
    /// `locales` when given (English is always kept, as the last fallback).
    pub fn with_templates(
        mut self,
        templates: &Templates,
        locales: Option<&[String]>,
    ) -> Result<Self, MessageError> {
        for (locale, text) in &templates.0 {
            let template = Template { with_app: text.clone(), without_app: text.clone() };
            self.templates.insert(locale.clone(), template);
        }
        if let Some(locales) = locales {
            let wanted: Vec<String> = locales.iter().filter_map(|tag| normalise(tag)).collect();
            if let Some(unknown) = wanted.iter().find(|tag| !self.templates.contains_key(*tag)) {
                return Err(MessageError::UnknownLocale(unknown.clone()));
            }
            self.templates.retain(|locale, _| locale == FALLBACK_LOCALE || wanted.contains(locale));
        }
        Ok(self)
    }

    /// The same messages with the country defaults, app name and autofill lines.
    pub fn with_details(
        self,
        country_locales: CountryLocales,
        app_name: Option<String>,
        webotp_domain: Option<String>,
        android_app_hash: Option<String>,
    ) -> Self {
        Self { country_locales, app_name, webotp_domain, android_app_hash, ..self }
    }

    /// The locales there are templates for.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// The locale a send uses: the first of `preferred` we have a template for (or for a
    /// shorter prefix of it), then the default of `region`, then English.
    pub fn locale_for(&self, preferred: &[String], region: Option<&str>) -> &str {
        let country = region.and_then(|region| self.country_locales.0.get(region));
        preferred
            .iter()
            .filter_map(|tag| normalise(tag))
            .chain(country.cloned())
            .find_map(|tag| {
                fallbacks(&tag)
                    .find_map(|prefix| self.templates.get_key_value(prefix))
                    .map(|(key, _)| key)
            })
            .map_or(FALLBACK_LOCALE, String::as_str)
    }

    /// The message for `code`, valid `minutes`, in the locale [`Messages::locale_for`] picks.
    pub fn render(
        &self,
        preferred: &[String],
        region: Option<&str>,
        code: &str,
        minutes: u64,
    ) -> Message {
        let locale = self.locale_for(preferred, region).to_owned();
        let text = self.text(&locale, code, minutes);
        Message { text, locale }
    }

    /// The text of `locale`'s template (English when it has none) for `code`.
    pub(crate) fn text(&self, locale: &str, code: &str, minutes: u64) -> String {
        let template = self.templates.get(locale).or_else(|| self.templates.get(FALLBACK_LOCALE));
        let Some(template) = template else {
            return code.to_owned();
        };
        let app = self.app_name.as_deref().unwrap_or_default();
        let body = if app.is_empty() { &template.without_app } else { &template.with_app };
        let mut text = body
            .replace("{minutes}", &minutes.to_string())
            .replace("{app}", app)
            .replace("{code}", code);
        if let Some(hash) = &self.android_app_hash {
            text.push('\n');
            text.push_str(hash);
        }
        if let Some(domain) = &self.webotp_domain {
            text.push_str("\n\n");
            text.push_str(&webotp_line(domain, code));
        }
        text
    }

    /// Leaves `locale`'s template out.
    pub(crate) fn remove_locale(&mut self, locale: &str) {
        self.templates.remove(locale);
    }
}

/// The locales and settings, without the template texts.
impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messages")
            .field("locales", &self.templates.keys().collect::<Vec<_>>())
            .field("country_locales", &self.country_locales)
            .field("app_name", &self.app_name)
            .field("webotp_domain", &self.webotp_domain)
            .field("android_app_hash", &self.android_app_hash)
            .finish()
    }
}
