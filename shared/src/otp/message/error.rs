//! The refusal of SMS settings that would leave a message unsendable as configured.

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
