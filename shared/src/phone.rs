//! Phone numbers as clients send them, normalised to E.164 with libphonenumber metadata.

use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use phonenumber::metadata::DATABASE;

/// What libphonenumber says a number is: mobile, fixed line, premium rate, ...
pub use phonenumber::Type as NumberType;

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// `countryCode` is neither a calling code (`+91`, `91`) nor a known region (`IN`).
    #[error("countryCode is not a known calling code or region")]
    UnknownCountry,
    /// The digits do not form a valid number for that country.
    #[error("phone_number is not a valid phone number")]
    Invalid,
    /// `phone_number` holds a character no phone number is written with.
    #[error("phone_number may hold only digits, spaces and + ( ) . / -")]
    NumberCharacters,
    /// `countryCode` holds a character no calling code or region is written with.
    #[error("countryCode may hold only letters, digits and +")]
    CountryCharacters,
}

/// A valid phone number in E.164 form (`+919876543219`).
///
/// `Debug` and `Display` show it masked, so it cannot reach a log line whole by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    calling_code: u16,
    region: Option<String>,
    number_type: NumberType,
}

impl PhoneNumber {
    /// Parses `number` in the context of `country`, which is a calling code (`"+91"`, `"91"`)
    /// or an ISO 3166 region (`"IN"`). A number that starts with `+` carries its own country
    /// code, which wins over `country` (libphonenumber's rule); `country` may then be empty.
    /// Only the characters people write numbers with are accepted, before any parsing:
    /// libphonenumber is lenient (it reads letters as keypad digits, skips much else),
    /// and what reaches it should be what a person meant.
    pub fn parse(number: &str, country: &str) -> Result<Self, PhoneError> {
        let number = number.trim();
        if !number.bytes().all(|b| b.is_ascii_digit() || b" +()./-".contains(&b)) {
            return Err(PhoneError::NumberCharacters);
        }
        if !country.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') {
            return Err(PhoneError::CountryCharacters);
        }
        let region = if number.starts_with('+') { None } else { Some(region_of(country.trim())?) };
        let parsed = phonenumber::parse(region, number).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self {
            e164: parsed.format().mode(phonenumber::Mode::E164).to_string(),
            calling_code: parsed.code().value(),
            region: parsed.country().id().map(|id| id.as_ref().to_owned()),
            number_type: parsed.number_type(&DATABASE),
        })
    }

    /// The number in E.164 form. Only for the SMS sender and for keyed hashing.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The ISO 3166 region the number belongs to (`IN`, `US`), when it has one.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The kind of line, from the number's range.
    pub fn number_type(&self) -> NumberType {
        self.number_type
    }

    /// The number with all but its country code and last three digits hidden:
    /// `+91******219`.
    pub fn masked(&self) -> String {
        let prefix_len = 1 + self.calling_code.to_string().len();
        let digits = self.e164.len();
        let hidden = digits.saturating_sub(prefix_len + 3);
        format!(
            "{}{}{}",
            &self.e164[..prefix_len],
            "*".repeat(hidden),
            &self.e164[prefix_len + hidden..]
        )
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// The region whose numbering plan applies: the region itself, or the main region of a
/// calling code (`+1` is `US`, `+44` is `GB`).
fn region_of(country: &str) -> Result<country::Id, PhoneError> {
    let calling_code = country.strip_prefix('+').unwrap_or(country);
    let region = if !calling_code.is_empty() && calling_code.bytes().all(|b| b.is_ascii_digit()) {
        let code: u16 = calling_code.parse().map_err(|_| PhoneError::UnknownCountry)?;
        let regions = DATABASE.region(&code).ok_or(PhoneError::UnknownCountry)?;
        regions.first().copied().ok_or(PhoneError::UnknownCountry)?.to_owned()
    } else {
        country.to_ascii_uppercase()
    };
    // The metadata also lists non-geographic entities ("001"); only real regions parse.
    country::Id::from_str(&region).map_err(|_| PhoneError::UnknownCountry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calling_code_with_or_without_plus_and_region_agree() {
        for country in ["+91", "91", "IN", "in", " +91 "] {
            let phone = PhoneNumber::parse("9876543219", country).unwrap();
            assert_eq!(phone.e164(), "+919876543219", "country {country:?}");
        }
    }

    #[test]
    fn number_with_its_own_country_code_needs_no_country() {
        let phone = PhoneNumber::parse("+91 98765 43219", "").unwrap();
        assert_eq!(phone.e164(), "+919876543219");
    }

    #[test]
    fn national_formatting_and_trunk_prefix_are_removed() {
        let phone = PhoneNumber::parse("07400 123456", "+44").unwrap();
        assert_eq!(phone.e164(), "+447400123456");
        let phone = PhoneNumber::parse("(201) 555-0123", "US").unwrap();
        assert_eq!(phone.e164(), "+12015550123");
    }

    #[test]
    fn unknown_countries_are_refused() {
        for country in ["XX", "", "+999", "0", "+", "abc", "ZZ", "+91+"] {
            assert_eq!(
                PhoneNumber::parse("9876543219", country),
                Err(PhoneError::UnknownCountry),
                "country {country:?}"
            );
        }
    }

    #[test]
    fn only_the_characters_numbers_are_written_with_pass() {
        for number in ["98765 43219", "(987) 654-3219", "98765.43219", "98765/43219", "+91-98765"] {
            assert_ne!(PhoneNumber::parse(number, "IN"), Err(PhoneError::NumberCharacters));
        }
        for number in [
            "98765x43219",
            "1-800-FLOWERS",
            "98765\u{0}43219",
            "９８７６５４３２１９",
            "98765;43219",
        ] {
            assert_eq!(
                PhoneNumber::parse(number, "IN"),
                Err(PhoneError::NumberCharacters),
                "{number:?}"
            );
        }
        for country in ["+9 1", "I-N", "91;", "ＩＮ"] {
            assert_eq!(
                PhoneNumber::parse("9876543219", country),
                Err(PhoneError::CountryCharacters)
            );
        }
    }

    #[test]
    fn invalid_numbers_are_refused() {
        for number in ["", "12", "0000000000", "98765432199999"] {
            assert_eq!(
                PhoneNumber::parse(number, "+91"),
                Err(PhoneError::Invalid),
                "number {number:?}"
            );
        }
    }

    #[test]
    fn region_and_type_come_from_the_metadata() {
        let mobile = PhoneNumber::parse("9876543219", "+91").unwrap();
        assert_eq!((mobile.region(), mobile.number_type()), (Some("IN"), NumberType::Mobile));
        let delhi_landline = PhoneNumber::parse("011 2345 6789", "IN").unwrap();
        assert_eq!(delhi_landline.number_type(), NumberType::FixedLine);
        let toronto = PhoneNumber::parse("+1 416 555 0123", "").unwrap();
        assert_eq!(toronto.region(), Some("CA"));
        let premium = PhoneNumber::parse("0909 879 0000", "GB").unwrap();
        assert_eq!(premium.number_type(), NumberType::PremiumRate);
    }

    #[test]
    fn masking_keeps_country_code_and_last_three_digits() {
        let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
        assert_eq!(phone.masked(), "+91*******219");
        assert_eq!(format!("{phone:?}"), "+91*******219");
        assert_eq!(phone.to_string(), "+91*******219");
    }
}
