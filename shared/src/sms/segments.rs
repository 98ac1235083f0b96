//! What a text costs as an SMS: its encoding (GSM 03.38 7-bit, or UCS-2 for anything
//! outside that alphabet), its length in that encoding's units and the segments it takes;
//! and the configuration's check that every language's message fits one segment.

use crate::otp::message::{FALLBACK_LOCALE, MessageError, Messages};

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

    /// The units one segment holds.
    pub const fn single_segment(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// The units each part of a multipart message holds (the rest carries the part header).
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

/// Checks that every locale's message fits one segment with the longest code of
/// `code_length` digits, valid `minutes`.
pub fn check_one_segment(
    messages: &Messages,
    code_length: usize,
    minutes: u64,
) -> Result<(), MessageError> {
    let longest = "9".repeat(code_length);
    for locale in messages.locales() {
        let (encoding, units, segments) = measure(&messages.text(locale, &longest, minutes));
        if segments > 1 {
            return Err(MessageError::TooLong {
                locale: locale.to_owned(),
                units,
                encoding: encoding.name(),
                limit: encoding.single_segment(),
            });
        }
    }
    Ok(())
}

/// `messages` without the locales whose message would take more than one segment, each
/// with why; an error when one of them is `kept` (one the operator named) or English, the
/// last fallback.
pub fn fit_one_segment(
    mut messages: Messages,
    code_length: usize,
    minutes: u64,
    kept: impl Fn(&str) -> bool,
) -> Result<(Messages, Vec<MessageError>), MessageError> {
    let mut left_out = Vec::new();
    while let Err(error) = check_one_segment(&messages, code_length, minutes) {
        let MessageError::TooLong { locale, .. } = &error else { return Err(error) };
        if locale == FALLBACK_LOCALE || kept(locale) {
            return Err(error);
        }
        messages.remove_locale(&locale.clone());
        left_out.push(error);
    }
    Ok((messages, left_out))
}

#[cfg(test)]
mod tests;
