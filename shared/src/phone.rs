//! Phone numbers as clients send them, normalised to E.164 with libphonenumber metadata.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType, Region};

/// What libphonenumber says a number is: mobile, fixed line, premium rate, ...
///
/// Named as libphonenumber names them (`fixed_line`, `premium_rate`) by [`NumberType::from_name`].
/// The last five are kinds of short number: a full number is never of them, and they are
/// kept so that a list naming them still reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// A landline.
    FixedLine,
    /// A mobile line.
    Mobile,
    /// Either, where the range does not tell (the US and Canada).
    FixedLineOrMobile,
    /// Free to the caller.
    TollFree,
    /// Charged above the normal rate.
    PremiumRate,
    /// The cost shared between caller and called.
    SharedCost,
    /// A personal number, routed on to another line.
    PersonalNumber,
    /// Voice over IP.
    Voip,
    /// A pager.
    Pager,
    /// A company's universal access number.
    Uan,
    /// A voicemail access number.
    Voicemail,
    /// Of a range libphonenumber does not classify.
    Unknown,
    /// An emergency short number.
    Emergency,
    /// A short code.
    ShortCode,
    /// A standard-rate short number.
    StandardRate,
    /// A carrier-specific short number.
    Carrier,
    /// A short number not reachable from abroad.
    NoInternational,
}

impl NumberType {
    const NAMES: [(&str, NumberType); 17] = [
        ("fixed_line", Self::FixedLine),
        ("mobile", Self::Mobile),
        ("fixed_line_or_mobile", Self::FixedLineOrMobile),
        ("toll_free", Self::TollFree),
        ("premium_rate", Self::PremiumRate),
        ("shared_cost", Self::SharedCost),
        ("personal_number", Self::PersonalNumber),
        ("voip", Self::Voip),
        ("pager", Self::Pager),
        ("uan", Self::Uan),
        ("voicemail", Self::Voicemail),
        ("unknown", Self::Unknown),
        ("emergency", Self::Emergency),
        ("short_code", Self::ShortCode),
        ("standard_rate", Self::StandardRate),
        ("carrier", Self::Carrier),
        ("no_international", Self::NoInternational),
    ];

    /// The type libphonenumber calls `name` (`premium_rate`), in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, number_type)| number_type)
    }

    fn of(number_type: PhoneNumberType) -> Self {
        match number_type {
            PhoneNumberType::FixedLine => Self::FixedLine,
            PhoneNumberType::Mobile => Self::Mobile,
            PhoneNumberType::FixedLineOrMobile => Self::FixedLineOrMobile,
            PhoneNumberType::TollFree => Self::TollFree,
            PhoneNumberType::PremiumRate => Self::PremiumRate,
            PhoneNumberType::SharedCost => Self::SharedCost,
            PhoneNumberType::VoIP => Self::Voip,
            PhoneNumberType::PersonalNumber => Self::PersonalNumber,
            PhoneNumberType::Pager => Self::Pager,
            PhoneNumberType::UAN => Self::Uan,
            PhoneNumberType::VoiceMail => Self::Voicemail,
            PhoneNumberType::Unknown => Self::Unknown,
        }
    }
}

/// Whether `code` is an ISO 3166 region libphonenumber has a numbering plan for (`IN`, `us`);
/// the non-geographic entity `001` is not one.
pub fn is_region_code(code: &str) -> bool {
    known_region(code).is_some()
}

/// Whether `code` names where numbers go, as [`PhoneNumber::region`] gives it: an ISO 3166
/// region (`IN`), or the calling code of a non-geographic network (`+881`).
pub fn is_destination_code(code: &str) -> bool {
    is_region_code(code) || network_calling_code(code).is_some()
}

/// The calling code `code` names (`+881`), when it is one of a non-geographic network.
fn network_calling_code(code: &str) -> Option<i32> {
    let digits = code.strip_prefix('+')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let calling_code: i32 = digits.parse().ok()?;
    PHONE_NUMBER_UTIL
        .get_supported_global_network_calling_codes()
        .any(|network| network == calling_code)
        .then_some(calling_code)
}

fn known_region(code: &str) -> Option<Region> {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let region = Region::from_code(code).ok()?;
    PHONE_NUMBER_UTIL.get_country_code_for_region(region).map(|_| region)
}

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
        let parsed = PHONE_NUMBER_UTIL.parse(number, region).map_err(|_| PhoneError::Invalid)?;
        if !parsed.is_valid() {
            return Err(PhoneError::Invalid);
        }
        let calling_code = u16::try_from(parsed.country_code).map_err(|_| PhoneError::Invalid)?;
        Ok(Self {
            e164: parsed.format_as(PhoneNumberFormat::E164).into_owned(),
            calling_code,
            region: parsed
                .get_region_code()
                .map(|region| region.as_region_str().to_string())
                .filter(|code| is_region_code(code))
                .or_else(|| {
                    // A non-geographic network (+870, +881, +882, +883, +888, ...) stands in
                    // for its own country, so that every country-level control sees it.
                    let network = format!("+{calling_code}");
                    network_calling_code(&network).map(|_| network)
                }),
            number_type: NumberType::of(parsed.get_type()),
        })
    }

    /// The number in E.164 form. Only for the SMS sender and for keyed hashing.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// Where the number belongs, as the country settings name it: its ISO 3166 region
    /// (`IN`, `US`), or for a non-geographic network its calling code (`+881`). `None` only
    /// for a number libphonenumber places nowhere.
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
fn region_of(country: &str) -> Result<Region, PhoneError> {
    let calling_code = country.strip_prefix('+').unwrap_or(country);
    if !calling_code.is_empty() && calling_code.bytes().all(|b| b.is_ascii_digit()) {
        let code: i32 = calling_code.parse().map_err(|_| PhoneError::UnknownCountry)?;
        // The metadata also lists non-geographic entities ("001"); only real regions parse.
        PHONE_NUMBER_UTIL
            .get_region_for_country_code(code)
            .filter(|region| is_region_code(&region.as_region_str()))
            .ok_or(PhoneError::UnknownCountry)
    } else {
        known_region(country).ok_or(PhoneError::UnknownCountry)
    }
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
    fn a_non_geographic_network_stands_in_for_its_country() {
        for (number, network) in [("+881612345678", "+881"), ("+870773123456", "+870")] {
            let phone = PhoneNumber::parse(number, "").unwrap();
            assert_eq!(phone.region(), Some(network), "{number}");
            assert!(is_destination_code(network));
        }
        for code in ["+91", "+999", "+8810", "881", "+", "IN+"] {
            assert!(network_calling_code(code).is_none(), "{code}");
        }
        assert!(is_destination_code("IN") && !is_destination_code("XX"));
    }

    #[test]
    fn masking_keeps_country_code_and_last_three_digits() {
        let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
        assert_eq!(phone.masked(), "+91*******219");
        assert_eq!(format!("{phone:?}"), "+91*******219");
        assert_eq!(phone.to_string(), "+91*******219");
    }
}
