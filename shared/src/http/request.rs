//! Request bodies as clients send them, parsed once for all three endpoints.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

use crate::phone::{PhoneError, PhoneNumber};

/// What is wrong with a body, naming the field but never echoing a value: bodies hold
/// phone numbers and codes. The `Display` is what the client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not a JSON object (empty, an array, a string...).
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// The body is not JSON at all; where the parser stopped.
    #[error("body is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field is neither a string nor a non-negative integer.
    #[error("{0} must be a string or a non-negative integer")]
    WrongType(&'static str),
    /// A field must be a string.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// A code field does not have the configured number of digits.
    #[error("{field} must be {digits} digits")]
    WrongLength {
        /// The field.
        field: &'static str,
        /// The digits it must have.
        digits: usize,
    },
    /// The body could not be read off the connection (local server).
    #[error("the request body could not be read")]
    Unreadable,
}

/// The body as a JSON object. Only objects are accepted: the contract has nothing else.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, BodyError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BodyError::NotAnObject);
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(BodyError::NotAnObject),
        Err(error) => Err(BodyError::Syntax { line: error.line(), column: error.column() }),
    }
}

/// `object[name]` as a string or number, `None` when absent (or JSON `null`).
fn field(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<StringOrNumber>, BodyError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            StringOrNumber::deserialize(value).map(Some).map_err(|_| BodyError::WrongType(name))
        }
    }
}

/// `object[name]`, which must be present.
fn required(object: &Map<String, Value>, name: &'static str) -> Result<StringOrNumber, BodyError> {
    field(object, name)?.ok_or(BodyError::MissingField(name))
}

/// `{"phone_number", "countryCode", "locale"?}`: the body of register and resend, and part
/// of verify's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneBody {
    phone_number: StringOrNumber,
    country_code: Option<StringOrNumber>,
    locale: Option<String>,
}

impl PhoneBody {
    /// Reads the fields from a body's object; other fields are ignored.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, BodyError> {
        let locale = match object.get("locale") {
            None | Some(Value::Null) => None,
            Some(Value::String(locale)) => Some(locale.clone()),
            Some(_) => return Err(BodyError::NotAString("locale")),
        };
        Ok(Self {
            phone_number: required(object, "phone_number")?,
            country_code: field(object, "countryCode")?,
            locale,
        })
    }

    /// The language the client asked the SMS to be in (a BCP 47 tag such as `hi-IN`), if
    /// any; one there is no template for is not an error, only a preference.
    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    /// The phone number in E.164 form.
    pub fn phone(&self) -> Result<PhoneNumber, PhoneError> {
        let country = self.country_code.as_ref().map(StringOrNumber::text);
        PhoneNumber::parse(&self.phone_number.text(), country.as_deref().unwrap_or(""))
    }
}

/// `{"phone_number", "countryCode", "authCode", "otp"}`: the body of verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyBody {
    /// The phone number and its country.
    pub phone: PhoneBody,
    /// The `authCode` that register or resend returned.
    pub auth_code: StringOrNumber,
    /// The code from the SMS.
    pub otp: StringOrNumber,
}

impl VerifyBody {
    /// Reads the fields from a body's object; other fields are ignored.
    pub fn from_json(object: &Map<String, Value>) -> Result<Self, BodyError> {
        Ok(Self {
            phone: PhoneBody::from_json(object)?,
            auth_code: required(object, "authCode")?,
            otp: required(object, "otp")?,
        })
    }
}

/// A JSON string, or a non-negative JSON integer that some clients send in its place.
/// Its `Debug` output is redacted: it may hold a code.
#[derive(Clone, PartialEq, Eq)]
pub enum StringOrNumber {
    /// A JSON string, as sent.
    String(String),
    /// A JSON integer.
    Number(u64),
}

impl StringOrNumber {
    /// The value as text, trimmed.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Self::String(text) => Cow::Borrowed(text.trim()),
            Self::Number(number) => Cow::Owned(number.to_string()),
        }
    }

    /// The value as a code of exactly `len` digits. A number gets back the leading zeros
    /// JSON took from it (`12345` is `"012345"` for six digits); a string must have them.
    pub fn digits(&self, len: usize) -> Option<String> {
        let digits = match self {
            Self::String(text) => text.trim().to_owned(),
            Self::Number(number) => format!("{number:0len$}"),
        };
        (digits.len() == len && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    }
}

impl fmt::Debug for StringOrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StringOrNumber(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringOrNumberVisitor;

        impl Visitor<'_> for StringOrNumberVisitor {
            type Value = StringOrNumber;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a non-negative integer")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber::String(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(StringOrNumber::String(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                Ok(StringOrNumber::Number(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                u64::try_from(value)
                    .map(StringOrNumber::Number)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
            }
        }

        deserializer.deserialize_any(StringOrNumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn verify_body(value: Value) -> Result<VerifyBody, BodyError> {
        VerifyBody::from_json(value.as_object().unwrap())
    }

    #[test]
    fn codes_come_as_strings_or_numbers() {
        let body = verify_body(json!({
            "phone_number": "9876543219", "countryCode": "+91", "authCode": 1234, "otp": "012345"
        }))
        .unwrap();
        assert_eq!(body.auth_code.digits(4).as_deref(), Some("1234"));
        assert_eq!(body.otp.digits(6).as_deref(), Some("012345"));
        assert_eq!(body.phone.phone().unwrap().e164(), "+919876543219");
    }

    #[test]
    fn numbers_get_their_leading_zeros_back_and_strings_must_have_them() {
        assert_eq!(StringOrNumber::Number(12345).digits(6).as_deref(), Some("012345"));
        assert_eq!(StringOrNumber::Number(7).digits(4).as_deref(), Some("0007"));
        assert_eq!(StringOrNumber::String("12345".into()).digits(6), None);
        assert_eq!(StringOrNumber::String(" 012345 ".into()).digits(6).as_deref(), Some("012345"));
    }

    #[test]
    fn codes_of_the_wrong_shape_are_refused() {
        for value in [
            StringOrNumber::Number(1_234_567),
            StringOrNumber::String("12a456".into()),
            StringOrNumber::String("".into()),
            StringOrNumber::String("１２３４５６".into()),
            StringOrNumber::String("+12345".into()),
        ] {
            assert_eq!(value.digits(6), None);
        }
    }

    #[test]
    fn wrong_json_types_are_errors_not_panics() {
        let base = json!({"phone_number": "9876543219", "countryCode": "+91", "authCode": "1234"});
        for otp in [json!(-1), json!(1.5), json!(true), json!(null), json!([1]), json!({})] {
            let mut body = base.clone();
            body["otp"] = otp.clone();
            assert!(verify_body(body).is_err(), "otp {otp}");
        }
        assert!(verify_body(base).is_err(), "missing otp");
    }

    #[test]
    fn country_code_may_be_a_number_or_absent_when_the_number_has_one() {
        let phone_body = |value: Value| PhoneBody::from_json(value.as_object().unwrap()).unwrap();
        let body = phone_body(json!({"phone_number": "9876543219", "countryCode": 91}));
        assert_eq!(body.phone().unwrap().e164(), "+919876543219");
        let body = phone_body(json!({"phone_number": "+919876543219", "countryCode": null}));
        assert_eq!(body.phone().unwrap().e164(), "+919876543219");
    }

    #[test]
    fn body_errors_name_the_field_and_never_a_value() {
        let cases: [(&[u8], BodyError); 6] = [
            (b"", BodyError::NotAnObject),
            (b" [1, 2]", BodyError::NotAnObject),
            (b"{\"phone_number\": 98765432", BodyError::Syntax { line: 1, column: 25 }),
            (b"{} x", BodyError::Syntax { line: 1, column: 4 }),
            (b"{\"countryCode\": \"+91\"}", BodyError::MissingField("phone_number")),
            (b"{\"phone_number\": 98765.5}", BodyError::WrongType("phone_number")),
        ];
        for (body, expected) in cases {
            let error = json_object(body).and_then(|object| PhoneBody::from_json(&object));
            assert_eq!(error, Err(expected.clone()), "{}", String::from_utf8_lossy(body));
            assert!(!expected.to_string().contains("98765"));
        }
    }

    #[test]
    fn debug_output_hides_codes() {
        assert_eq!(format!("{:?}", StringOrNumber::Number(123456)), "StringOrNumber(<redacted>)");
    }
}
