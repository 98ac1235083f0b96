//! The texts a message is rendered from: the built-in templates, the operator's
//! (`SMS_MESSAGE_TEMPLATES`), and the autofill line browsers read the code from.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::locales::normalise;
use crate::otp::destinations::InvalidList;

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

/// One template: its text (with `{code}`, and optionally `{minutes}` and `{app}`).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Template {
    /// The text when the app has a name.
    pub(super) with_app: String,
    /// The text when it has none.
    pub(super) without_app: String,
}

/// The built-in templates, keyed by locale.
pub(super) fn built_in() -> BTreeMap<String, Template> {
    BUILT_IN
        .iter()
        .map(|(locale, with_app, without_app)| {
            let template = Template {
                with_app: (*with_app).to_owned(),
                without_app: (*without_app).to_owned(),
            };
            ((*locale).to_owned(), template)
        })
        .collect()
}

/// `locale=template|locale=template`: templates for more languages or in place of the
/// built-in ones (`SMS_MESSAGE_TEMPLATES`). `|` separates entries; `\n` in a template is a
/// line break (a CloudFormation parameter is one line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates(pub(super) Vec<(String, String)>);

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

/// A line break for every `\n` escape.
fn unescape(template: &str) -> String {
    template.replace("\\n", "\n")
}

/// The autofill line browsers (WebOTP in Chrome, domain-bound codes in Safari) read the
/// code from: `@domain #code`, the message's last line (WICG "Origin-bound one-time codes").
pub(super) fn webotp_line(domain: &str, code: &str) -> String {
    format!("@{domain} #{code}")
}
