//! What a text costs on the air: its encoding (GSM 03.38 7-bit, or UCS-2 for anything
//! outside that alphabet), its length in that encoding's units and the segments it takes.

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
    pub(super) const fn single_segment(self) -> usize {
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
