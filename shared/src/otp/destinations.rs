//! The list-valued settings that decide which destinations get a code, each parsed from
//! its comma-separated form with its own errors.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::phone::{NumberType, PhoneNumber, is_destination_code};

/// Why a list setting does not parse. Says which entry, never what it held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidList(String);

impl InvalidList {
    /// A refusal for `reason`.
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// The entries of a comma-separated list, trimmed, empty ones dropped.
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|entry| !entry.is_empty())
}

/// ISO 3166 region codes known to libphonenumber (`IN, us`), kept upper-case, and calling
/// codes of non-geographic networks (`+881`), which stand in for a country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Countries(BTreeSet<String>);

impl Countries {
    /// Whether `region` (upper-case, as [`PhoneNumber::region`] gives it) is listed.
    pub fn contains(&self, region: &str) -> bool {
        self.0.contains(region)
    }
}

impl FromStr for Countries {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        entries(list)
            .map(str::to_ascii_uppercase)
            .map(|region| match is_destination_code(&region) {
                true => Ok(region),
                false => Err(InvalidList(format!(
                    "{region} is not a region code or a network's calling code (+881)"
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// libphonenumber number types (`fixed_line, premium_rate`), or `none` for the empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberTypes(Vec<NumberType>);

impl NumberTypes {
    /// Whether `number_type` is listed.
    pub fn contains(&self, number_type: NumberType) -> bool {
        self.0.contains(&number_type)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const N: usize> From<[NumberType; N]> for NumberTypes {
    fn from(types: [NumberType; N]) -> Self {
        Self(types.to_vec())
    }
}

impl FromStr for NumberTypes {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        if list.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::default());
        }
        entries(list)
            .map(str::to_ascii_lowercase)
            .map(|name| {
                NumberType::from_name(&name).ok_or_else(|| {
                    InvalidList(format!(
                        "{name} is not a number type (e.g. fixed_line, premium_rate)"
                    ))
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// E.164 number prefixes (`+88213, +2327`): the `+` and 1 to 15 digits each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes(Vec<String>);

impl Prefixes {
    /// The listed prefix `phone`'s E.164 form starts with, if any.
    pub fn matching(&self, phone: &PhoneNumber) -> Option<&str> {
        self.0.iter().find(|prefix| phone.e164().starts_with(prefix.as_str())).map(String::as_str)
    }
}

impl FromStr for Prefixes {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        entries(list)
            .enumerate()
            .map(|(index, entry)| {
                let compact: String = entry.chars().filter(|c| *c != ' ').collect();
                let digits = compact.strip_prefix('+').unwrap_or_default();
                let fine =
                    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
                if fine {
                    Ok(compact)
                } else {
                    let position = index + 1;
                    Err(InvalidList(format!(
                        "entry {position} is not a + followed by 1 to 15 digits, such as +88213"
                    )))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// A limit for every country with overrides for some: `100;IN=2000;US=500` (`;` or `,`
/// between entries). The bare number is the default (0, off, when absent); `XX=0` turns
/// the limit off for one country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryLimits {
    default: u32,
    overrides: std::collections::BTreeMap<String, u32>,
}

impl CountryLimits {
    /// The limit for `region`; 0 is none.
    pub fn for_region(&self, region: &str) -> u32 {
        self.overrides.get(region).copied().unwrap_or(self.default)
    }
}

impl FromStr for CountryLimits {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut limits = Self::default();
        let mut default_seen = false;
        let items = list.split([';', ',']).map(str::trim).filter(|entry| !entry.is_empty());
        for (index, entry) in items.enumerate() {
            let position = index + 1;
            let count = |text: &str| {
                text.trim().parse::<u32>().map_err(|_| {
                    InvalidList(format!(
                        "entry {position}: {:?} is not a whole number",
                        text.trim()
                    ))
                })
            };
            match entry.split_once('=') {
                None if !default_seen => {
                    limits.default = count(entry)?;
                    default_seen = true;
                }
                None => {
                    return Err(InvalidList(format!(
                        "entry {position}: only one default; give others as COUNTRY=LIMIT"
                    )));
                }
                Some((region, limit)) => {
                    let region = region.trim().to_ascii_uppercase();
                    if !is_destination_code(&region) {
                        return Err(InvalidList(format!(
                            "entry {position}: {region} is not a region code or a network's \
                             calling code (+881)"
                        )));
                    }
                    limits.overrides.insert(region, count(limit)?);
                }
            }
        }
        Ok(limits)
    }
}

/// `+15555550100=123456, ...`: E.164 numbers that get a fixed code and no SMS. Errors name
/// an entry by its position and `Debug` shows only how many there are: numbers and codes
/// are secrets that must not reach a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TestNumbers(Vec<(String, String)>);

impl TestNumbers {
    /// The fixed code of `phone`, when it is a test number.
    pub fn code(&self, phone: &PhoneNumber) -> Option<&str> {
        self.0.iter().find(|(number, _)| number == phone.e164()).map(|(_, code)| code.as_str())
    }

    /// How many test numbers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks that every code has `code_length` digits.
    pub fn check_code_length(&self, code_length: usize) -> Result<(), InvalidList> {
        match self.0.iter().position(|(_, code)| code.len() != code_length) {
            None => Ok(()),
            Some(index) => Err(InvalidList(format!(
                "the code of entry {} must be {code_length} digits",
                index + 1
            ))),
        }
    }
}

impl FromStr for TestNumbers {
    type Err = InvalidList;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        entries(list)
            .enumerate()
            .map(|(index, entry)| {
                let position = index + 1;
                let (number, code) = entry
                    .split_once('=')
                    .ok_or_else(|| InvalidList(format!("entry {position} is not NUMBER=CODE")))?;
                let number = number.trim();
                let phone = PhoneNumber::parse(number, "")
                    .ok()
                    .filter(|_| number.starts_with('+'))
                    .ok_or_else(|| {
                        InvalidList(format!("entry {position} is not a valid +E.164 number"))
                    })?;
                let code = code.trim();
                if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(InvalidList(format!(
                        "the code of entry {position} must be digits"
                    )));
                }
                Ok((phone.e164().to_owned(), code.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Debug for TestNumbers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestNumbers({} numbers, <redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_trimmed_upper_cased_and_checked() {
        let countries: Countries = " in, US ,".parse().unwrap();
        assert!(countries.contains("IN") && countries.contains("US"));
        assert!(!countries.contains("GB"));
        let error = "IN,XX".parse::<Countries>().unwrap_err();
        assert_eq!(error.to_string(), "XX is not a region code or a network's calling code (+881)");
        let networks: Countries = "+881, +870".parse().unwrap();
        assert!(networks.contains("+881") && networks.contains("+870"));
        assert!("+999".parse::<Countries>().is_err(), "not a network");
    }

    #[test]
    fn prefixes_are_plus_and_digits_and_match_the_start_of_the_number() {
        let prefixes: Prefixes = "+88213, +2327 ,+91 98".parse().unwrap();
        let phone = |number: &str| PhoneNumber::parse(number, "").unwrap();
        assert_eq!(prefixes.matching(&phone("+23279123456")), Some("+2327"));
        assert_eq!(prefixes.matching(&phone("+919876543219")), Some("+9198"));
        assert_eq!(prefixes.matching(&phone("+919776543219")), None);
        for (list, error) in
            [("88213", "entry 1 is not"), ("+1,+", "entry 2 is not"), ("+12a", "entry 1 is not")]
        {
            assert!(list.parse::<Prefixes>().unwrap_err().to_string().starts_with(error), "{list}");
        }
    }

    #[test]
    fn country_limits_have_a_default_and_overrides() {
        let limits: CountryLimits = "100; in=2000; US=500; GB=0".parse().unwrap();
        assert_eq!(limits.for_region("IN"), 2000);
        assert_eq!(limits.for_region("FR"), 100);
        assert_eq!(limits.for_region("GB"), 0);
        let only: CountryLimits = "IN=10".parse().unwrap();
        assert_eq!((only.for_region("IN"), only.for_region("US")), (10, 0));
        for (list, error) in [
            ("100;200", "entry 2: only one default"),
            ("XX=5", "entry 1: XX is not a region code"),
            ("IN=many", "entry 1: \"many\" is not a whole number"),
            ("-1", "entry 1"),
        ] {
            let found = list.parse::<CountryLimits>().unwrap_err().to_string();
            assert!(found.starts_with(error), "{list}: {found}");
        }
    }

    #[test]
    fn number_types_use_libphonenumber_names_or_none() {
        let types: NumberTypes = "premium_rate, VOIP".parse().unwrap();
        assert_eq!(types, NumberTypes::from([NumberType::PremiumRate, NumberType::Voip]));
        assert!("none".parse::<NumberTypes>().unwrap().is_empty());
        assert!(" NONE ".parse::<NumberTypes>().unwrap().is_empty());
        assert!("landline".parse::<NumberTypes>().is_err());
    }

    #[test]
    fn test_numbers_are_normalised_and_keep_their_codes() {
        let numbers: TestNumbers = "+1 201 555 0123=123456, +919876543219=000000".parse().unwrap();
        assert_eq!(numbers.len(), 2);
        let phone = PhoneNumber::parse("+12015550123", "").unwrap();
        assert_eq!(numbers.code(&phone), Some("123456"));
        assert!(numbers.check_code_length(6).is_ok());
        assert_eq!(
            numbers.check_code_length(4).unwrap_err().to_string(),
            "the code of entry 1 must be 4 digits"
        );
    }

    #[test]
    fn test_number_errors_name_the_entry_but_never_echo_it() {
        for (list, reason) in [
            ("+12015550123", "entry 1 is not NUMBER=CODE"),
            ("+12015550123=123456,2015550124=123456", "entry 2 is not a valid +E.164 number"),
            ("+12015550123=12a4", "the code of entry 1 must be digits"),
        ] {
            let error = list.parse::<TestNumbers>().unwrap_err().to_string();
            assert_eq!(error, reason);
            assert!(!error.contains("555"), "no number echoed: {error}");
        }
    }

    #[test]
    fn test_numbers_debug_shows_only_the_count() {
        let numbers: TestNumbers = "+12015550123=123456".parse().unwrap();
        assert_eq!(format!("{numbers:?}"), "TestNumbers(1 numbers, <redacted>)");
    }
}
