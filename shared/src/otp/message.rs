//! The SMS text: the language it is written in, the autofill lines phones and browsers read
//! the code from, and how many segments it costs.
//!
//! A send's language is the first of: the `locale` the client asked for, its
//! `Accept-Language`, the default of the phone's country (`SMS_DEFAULT_LOCALES`), English.
//! A locale with no template falls back down that list; it is never an error.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::destinations::InvalidList;

/// The built-in templates: (locale, with the app's name, without it). `{code}` comes first,
/// then the app, the expiry and "do not share". Latin-script texts keep to the GSM 03.38
/// alphabet (no ó, ç or ã: one such letter would halve the segment, 160 to 70 characters).
const BUILT_IN: [(&str, &str, &str); 8] = [
    (
        "en",
        "{code} is your {app} verification code. It expires in {minutes} minutes. Do not share it.",
        "{code} is your verification code. It expires in {minutes} minutes. Do not share it.",
    ),
    (
        "es",
        "{code} es tu codigo de verificacion de {app}. Caduca en {minutes} minutos. No lo compartas.",
        "{code} es tu codigo de verificacion. Caduca en {minutes} minutos. No lo compartas.",
    ),
    (
        "pt",
        "{code} é o seu codigo de verificacao {app}. Expira em {minutes} minutos. Nao compartilhe.",
        "{code} é o seu codigo de verificacao. Expira em {minutes} minutos. Nao compartilhe.",
    ),
    (
        "fr",
        "{code} est votre code de vérification {app}. Il expire dans {minutes} minutes. Ne le partagez pas.",
        "{code} est votre code de vérification. Il expire dans {minutes} minutes. Ne le partagez pas.",
    ),
    (
        "de",
        "{code} ist Ihr {app}-Bestätigungscode. Gültig {minutes} Minuten. Geben Sie ihn nicht weiter.",
        "{code} ist Ihr Bestätigungscode. Gültig {minutes} Minuten. Geben Sie ihn nicht weiter.",
    ),
    (
        "id",
        "{code} adalah kode verifikasi {app} Anda. Berlaku {minutes} menit. Jangan berikan kepada siapa pun.",
        "{code} adalah kode verifikasi Anda. Berlaku {minutes} menit. Jangan berikan kepada siapa pun.",
    ),
    (
        "hi",
        "{code} आपका {app} कोड है। {minutes} मिनट मान्य। किसी को न बताएं।",
        "{code} आपका सत्यापन कोड। {minutes} मिनट मान्य। किसी को न बताएं।",
    ),
    (
        "ar",
        "{code} رمز {app}. صالح لمدة {minutes} دقيقة. لا تشاركه.",
        "{code} رمز التحقق. صالح لمدة {minutes} دقيقة. لا تشاركه مع أحد.",
    ),
];

/// The locale every send falls back to.
pub const FALLBACK_LOCALE: &str = "en";

/// How a message is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 03.38 7-bit alphabet: 160 characters in one segment, 153 per part beyond.
    Gsm7,
    /// UCS-2, for any text with a character outside GSM 03.38: 70 in one, 67 per part.
    Ucs2,
}

impl Encoding {
    /// The name in logs: `GSM-7` or `UCS-2`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }

    const fn single_segment(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    const fn per_part(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
}

/// GSM 03.38's basic table: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38's extension table: an escape and the character, two septets each.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// A text's encoding, its length in that encoding's units (septets, or UTF-16 code units),
/// and the segments it takes.
pub fn measure(text: &str) -> (Encoding, usize, usize) {
    let gsm7: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units) = match gsm7 {
        Some(septets) => (Encoding::Gsm7, septets),
        None => (Encoding::Ucs2, text.encode_utf16().count()),
    };
    let segments =
        if units <= encoding.single_segment() { 1 } else { units.div_ceil(encoding.per_part()) };
    (encoding, units, segments)
}

/// A rendered SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The text, code and autofill lines included.
    pub text: String,
    /// The locale of the template it was rendered from.
    pub locale: String,
    /// How it is encoded on the air.
    pub encoding: Encoding,
    /// The segments it takes (and is billed as).
    pub segments: usize,
}

/// A locale as templates are keyed: a lower-case BCP 47 tag (`hi`, `pt-br`).
fn normalise(tag: &str) -> Option<String> {
    let tag = tag.trim().replace('_', "-").to_ascii_lowercase();
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    valid.then_some(tag)
}

/// `tag` and its shorter prefixes, most specific first: `zh-hant-tw`, `zh-hant`, `zh`.
fn fallbacks(tag: &str) -> impl Iterator<Item = &str> {
    let mut cut = Some(tag.len());
    std::iter::from_fn(move || {
        let end = cut?;
        let prefix = &tag[..end];
        cut = prefix.rfind('-');
        Some(prefix)
    })
}

/// The locales an `Accept-Language` header asks for, best first (RFC 9110, 12.5.4); `*`
/// and anything malformed are skipped, as are ranges weighted `q=0`.
pub fn accept_language(header: &str) -> Vec<String> {
    let mut ranges: Vec<(u16, usize, String)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let tag = normalise(parts.next()?).filter(|tag| tag != "*")?;
            let quality = parts
                .find_map(|param| param.trim().strip_prefix("q="))
                .map_or(Some(1000), |q| {
                    q.trim().parse::<f32>().ok().map(|q| (q * 1000.0) as u16)
                })?;
            (quality > 0).then_some((quality, position, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, tag)| tag).collect()
}

/// One template: its text (with `{code}`, and optionally `{minutes}` and `{app}`).
#[derive(Clone, PartialEq, Eq)]
struct Template {
    with_app: String,
    without_app: String,
}

/// `locale=template|locale=template`: templates for more languages or in place of the
/// built-in ones (`SMS_MESSAGE_TEMPLATES`). `|` separates entries; `\n` in a template is a
/// line break (a CloudFormation parameter is one line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates(Vec<(String, String)>);

impl Templates {
    /// These templates with `template` for `locale` in front, unless one of them is for
    /// `locale` already. `\n` escapes become line breaks; the template must hold `{code}`.
    pub fn with_fallback(mut self, locale: &str, template: &str) -> Result<Self, InvalidList> {
        let locale = normalise(locale).ok_or_else(|| InvalidList::new("not a BCP 47 locale"))?;
        let template = checked_template(&locale, template)?;
        if !self.has(&locale) {
            self.0.insert(0, (locale, template));
        }
        Ok(self)
    }

    /// Whether there is a template for `locale`.
    pub fn has(&self, locale: &str) -> bool {
        self.0.iter().any(|(own, _)| own == locale)
    }
}

/// `template` with its `\n` escapes as line breaks, if it holds `{code}`.
fn checked_template(locale: &str, template: &str) -> Result<String, InvalidList> {
    let template = unescape(template.trim());
    if template.contains("{code}") {
        Ok(template)
    } else {
        Err(InvalidList::new(format!("the {locale} template must contain {{code}}")))
    }
}

impl FromStr for Templates {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split('|')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                let position = index + 1;
                let (locale, template) = entry.split_once('=').ok_or_else(|| {
                    InvalidList::new(format!("entry {position} is not LOCALE=TEMPLATE"))
                })?;
                let locale = normalise(locale).ok_or_else(|| {
                    InvalidList::new(format!(
                        "entry {position} does not start with a BCP 47 locale"
                    ))
                })?;
                let template = checked_template(&locale, template)?;
                Ok((locale, template))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// `IN:hi,BR:pt`: the language a country's phones get when the client asks for none we
/// have (`SMS_DEFAULT_LOCALES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryLocales(BTreeMap<String, String>);

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
                if !crate::phone::is_region_code(&country) {
                    return Err(invalid());
                }
                Ok((country, normalise(locale).ok_or_else(invalid)?))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// A line break for every `\n` escape.
fn unescape(template: &str) -> String {
    template.replace("\\n", "\n")
}

/// The autofill line browsers (WebOTP in Chrome, domain-bound codes in Safari) read the
/// code from: `@domain #code`, the message's last line (WICG "Origin-bound one-time codes").
fn webotp_line(domain: &str, code: &str) -> String {
    format!("@{domain} #{code}")
}

/// Why the SMS settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A locale's message does not fit one segment.
    #[error(
        "the {locale} message is {units} characters of {encoding} with the longest code, the app \
         name and the autofill lines, over the {limit} of one SMS segment; shorten it (SMS_MESSAGE_TEMPLATES), \
         leave the locale out (SMS_LOCALES) or allow multipart messages (SMS_ALLOW_MULTIPART=true)"
    )]
    TooLong {
        /// The locale.
        locale: String,
        /// Its length in its encoding's units.
        units: usize,
        /// The encoding's name.
        encoding: &'static str,
        /// One segment's length.
        limit: usize,
    },
    /// `SMS_LOCALES` names a locale no template has.
    #[error(
        "{0} has no template (built in: en, es, pt, fr, de, id, hi, ar; or SMS_MESSAGE_TEMPLATES)"
    )]
    UnknownLocale(String),
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
        let templates = BUILT_IN
            .iter()
            .map(|(locale, with_app, without_app)| {
                let template = Template {
                    with_app: (*with_app).to_owned(),
                    without_app: (*without_app).to_owned(),
                };
                ((*locale).to_owned(), template)
            })
            .collect();
        Self {
            templates,
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

    /// The SMS for `code`, valid `minutes`, in the locale [`Messages::locale_for`] picks.
    pub fn render(
        &self,
        preferred: &[String],
        region: Option<&str>,
        code: &str,
        minutes: u64,
    ) -> Sms {
        let locale = self.locale_for(preferred, region).to_owned();
        let text = self.text(&locale, code, minutes);
        let (encoding, _, segments) = measure(&text);
        Sms { text, locale, encoding, segments }
    }

    fn text(&self, locale: &str, code: &str, minutes: u64) -> String {
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

    /// The same messages without the locales whose message would take more than one
    /// segment with the longest code of `code_length` digits, each with why; an error when
    /// one of them is `kept` (one the operator named) or English, the last fallback.
    pub fn fitting_one_segment(
        mut self,
        code_length: usize,
        minutes: u64,
        kept: impl Fn(&str) -> bool,
    ) -> Result<(Self, Vec<MessageError>), MessageError> {
        let mut left_out = Vec::new();
        while let Err(error) = self.check_single_segment(code_length, minutes) {
            let MessageError::TooLong { locale, .. } = &error else { return Err(error) };
            if locale == FALLBACK_LOCALE || kept(locale) {
                return Err(error);
            }
            self.templates.remove(&locale.clone());
            left_out.push(error);
        }
        Ok((self, left_out))
    }

    /// Checks that every locale's message fits one segment with the longest code of
    /// `code_length` digits.
    pub fn check_single_segment(
        &self,
        code_length: usize,
        minutes: u64,
    ) -> Result<(), MessageError> {
        let longest = "9".repeat(code_length);
        for locale in self.templates.keys() {
            let (encoding, units, segments) = measure(&self.text(locale, &longest, minutes));
            if segments > 1 {
                return Err(MessageError::TooLong {
                    locale: locale.clone(),
                    units,
                    encoding: encoding.name(),
                    limit: encoding.single_segment(),
                });
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn locales(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|tag| (*tag).to_owned()).collect()
    }

    #[test]
    fn gsm7_counts_extension_characters_twice_and_anything_else_makes_it_ucs2() {
        assert_eq!(measure("123456 is your code"), (Encoding::Gsm7, 19, 1));
        assert_eq!(measure("a€b"), (Encoding::Gsm7, 4, 1), "€ is in the extension table");
        assert_eq!(measure("código"), (Encoding::Ucs2, 6, 1), "ó is not GSM 03.38");
        assert_eq!(measure(&"a".repeat(160)).2, 1);
        assert_eq!(measure(&"a".repeat(161)).2, 2);
        assert_eq!(measure(&"a".repeat(306)).2, 2, "153 per part");
        assert_eq!(measure(&"ü".repeat(160)).0, Encoding::Gsm7);
        assert_eq!(measure(&"अ".repeat(70)), (Encoding::Ucs2, 70, 1));
        assert_eq!(measure(&"अ".repeat(71)).2, 2);
        assert_eq!(measure("😀").1, 2, "outside the BMP: two UTF-16 units");
        assert_eq!(measure(&"{".repeat(80)), (Encoding::Gsm7, 160, 1));
    }

    #[test]
    fn the_language_is_the_request_then_accept_language_then_the_country_then_english() {
        let messages =
            Messages::default().with_details("IN:hi,BR:pt".parse().unwrap(), None, None, None);
        assert_eq!(messages.locale_for(&locales(&["es-MX", "fr"]), Some("IN")), "es");
        assert_eq!(messages.locale_for(&locales(&["xx", "fr-CA"]), Some("IN")), "fr");
        assert_eq!(messages.locale_for(&locales(&["zz", "!!"]), Some("IN")), "hi");
        assert_eq!(messages.locale_for(&[], Some("BR")), "pt");
        assert_eq!(messages.locale_for(&[], Some("US")), "en");
        assert_eq!(messages.locale_for(&[], None), "en");
    }

    #[test]
    fn accept_language_is_read_by_quality_then_order() {
        assert_eq!(
            accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"),
            ["fr-ch", "fr", "en", "de"]
        );
        assert_eq!(accept_language("en;q=0.5, hi"), ["hi", "en"]);
        assert_eq!(accept_language("de;q=0, es"), ["es"]);
        assert!(accept_language(";;,q=1").is_empty());
    }

    #[test]
    fn every_built_in_message_reads_well_without_an_app_and_fits_one_segment() {
        let messages = Messages::default();
        for locale in messages.locales() {
            let sms = messages.render(&[locale.to_owned()], None, "123456", 5);
            assert_eq!(sms.locale, locale);
            assert!(sms.text.starts_with("123456 "), "code first: {}", sms.text);
            assert!(!sms.text.contains('{') && !sms.text.contains("  "), "{}", sms.text);
            assert_eq!(sms.segments, 1);
        }
        assert!(messages.check_single_segment(10, 5).is_ok());
        let named = Messages::default().with_details(
            CountryLocales::default(),
            Some("Acme".into()),
            None,
            None,
        );
        assert!(named.check_single_segment(10, 60).is_ok());
        assert!(named.render(&[], None, "1", 5).text.contains("Acme"));
    }

    #[test]
    fn autofill_lines_end_the_message_the_webotp_one_last() {
        let messages = Messages::default().with_details(
            CountryLocales::default(),
            None,
            Some("app.example.com".into()),
            Some("FA+9qCX9VSu".into()),
        );
        let sms = messages.render(&[], None, "042137", 5);
        let lines: Vec<&str> = sms.text.lines().collect();
        assert_eq!(lines.last(), Some(&"@app.example.com #042137"));
        assert_eq!(lines[1], "FA+9qCX9VSu");
        assert_eq!(sms.encoding, Encoding::Gsm7);
    }

    #[test]
    fn every_built_in_message_fits_one_segment_with_the_android_hash() {
        for app in [None, Some("Acme".to_owned())] {
            let messages = Messages::default().with_details(
                CountryLocales::default(),
                app.clone(),
                None,
                Some("FA+9qCX9VSu".into()),
            );
            assert_eq!(messages.check_single_segment(6, 10), Ok(()), "app name {app:?}");
        }
        let web = Messages::default().with_details(
            CountryLocales::default(),
            Some("Acme Pay".into()),
            Some("app.example.com".into()),
            Some("FA+9qCX9VSu".into()),
        );
        let latin = ["en", "es", "pt", "fr", "de", "id"].map(String::from);
        let latin = web.with_templates(&Templates::default(), Some(&latin)).unwrap();
        assert_eq!(latin.check_single_segment(6, 10), Ok(()), "Latin scripts take both lines");
    }

    #[test]
    fn a_message_that_would_take_two_segments_is_refused_naming_its_locale_and_length() {
        let messages = Messages::default().with_details(
            CountryLocales::default(),
            None,
            Some("app.example.com".into()),
            None,
        );
        match messages.check_single_segment(6, 5) {
            Err(MessageError::TooLong { locale, units, encoding, limit }) => {
                assert!(["ar", "hi"].contains(&locale.as_str()), "{locale}");
                assert!(units > 70 && encoding == "UCS-2" && limit == 70);
            }
            other => panic!("expected the UCS-2 locales to overflow with a WebOTP line: {other:?}"),
        }
        let latin_only =
            messages.with_templates(&Templates::default(), Some(&locales(&["es", "fr"]))).unwrap();
        assert!(latin_only.check_single_segment(6, 5).is_ok());
    }

    #[test]
    fn operator_templates_add_or_replace_languages_and_must_hold_the_code() {
        let templates: Templates =
            "en=Code {code}\\nfor {app}| sw={code} ni msimbo wako".parse().unwrap();
        let messages = Messages::default().with_templates(&templates, None).unwrap();
        assert_eq!(messages.render(&[], None, "1234", 5).text, "Code 1234\nfor ");
        assert_eq!(
            messages.render(&locales(&["sw-KE"]), None, "1234", 5).text,
            "1234 ni msimbo wako"
        );
        assert!("en=no code here".parse::<Templates>().is_err());
        assert!("just text".parse::<Templates>().is_err());
        let error =
            Messages::default().with_templates(&Templates::default(), Some(&locales(&["xx"])));
        assert_eq!(error.unwrap_err(), MessageError::UnknownLocale("xx".into()));
    }

    #[test]
    fn country_defaults_parse_and_refuse_unknown_regions() {
        assert!("IN:hi, br:pt-BR".parse::<CountryLocales>().is_ok());
        assert!("XX:hi".parse::<CountryLocales>().is_err());
        assert!("IN".parse::<CountryLocales>().is_err());
    }
}
