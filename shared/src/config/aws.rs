//! Reads the AWS adapters' settings, and checks without AWS what the functions would read.

use super::ConfigError;
use super::defaults::parse_default;
use super::read::{optional, optional_parse, required};
use crate::sms::senders::{Sender, Senders};

/// The settings that may come from Secrets Manager or Parameter Store, each with the
/// variables that name its secret and its parameter.
pub const SECRET_VARIABLES: [(&str, &str, &str); 4] = [
    ("JWT_SECRET", "JWT_SECRET_SECRET_ARN", "JWT_SECRET_PARAMETER"),
    ("OTP_HASH_KEY", "OTP_HASH_KEY_SECRET_ARN", "OTP_HASH_KEY_PARAMETER"),
    ("OTP_TEST_NUMBERS", "OTP_TEST_NUMBERS_SECRET_ARN", "OTP_TEST_NUMBERS_PARAMETER"),
    (
        "VERIFICATION_TOKEN_PRIVATE_KEY",
        "VERIFICATION_TOKEN_PRIVATE_KEY_SECRET_ARN",
        "VERIFICATION_TOKEN_PRIVATE_KEY_PARAMETER",
    ),
];

/// Settings of the AWS adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Who SMS are sent as, per destination country (`SMS_SENDER_ID`, `SMS_SENDERS`, ...).
    pub senders: Senders,
    /// Whether a function warms its clients at init, with one read-only request each, so
    /// that its first request does not pay for opening them (`OTP_WARM_CLIENTS`).
    pub warm_clients: bool,
}

impl AwsSettings {
    /// Reads the adapters' settings through `lookup`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut global = Sender::default();
        let variables = [
            ("SMS_ORIGINATION_NUMBER", "origination_number"),
            ("SMS_SENDER_ID", "sender_id"),
            ("SMS_MAX_PRICE_USD", "max_price_usd"),
            ("SMS_DLT_ENTITY_ID", "dlt_entity_id"),
            ("SMS_DLT_TEMPLATE_ID", "dlt_template_id"),
        ];
        for (name, field) in variables {
            if let Some(value) = optional(lookup, name) {
                global
                    .set(field, &value)
                    .map_err(|error| ConfigError::Invalid { name, reason: error.to_string() })?;
            }
        }
        let by_country = optional_parse(lookup, "SMS_SENDERS")?.unwrap_or_default();
        Ok(Self {
            table_name: required(lookup, "TABLE_NAME")?,
            senders: Senders::new(global, by_country),
            warm_clients: parse_default(lookup, "OTP_WARM_CLIENTS")?,
        })
    }
}

/// Checks, without AWS, every setting the functions read besides [`Settings`]: what
/// `otp-local` runs, with the functions' errors, so that a configuration that starts on a
/// laptop starts in AWS too. Only what AWS alone has is left out: `TABLE_NAME` may be
/// unset, and a secret given by reference (`<NAME>_SECRET_ARN`, `<NAME>_PARAMETER`) is an
/// error, since there is nothing to fetch it from: give its value instead.
///
/// [`Settings`]: super::Settings
pub fn check_without_aws(lookup: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for (value, secret_arn, parameter) in SECRET_VARIABLES {
        if let Some(reference) =
            [secret_arn, parameter].into_iter().find(|name| lookup(name).is_some())
        {
            return Err(ConfigError::Invalid {
                name: reference,
                reason: format!(
                    "names a secret in AWS, which is not reached here; set {value} instead"
                ),
            });
        }
    }
    let with_table = |name: &str| match name {
        "TABLE_NAME" => lookup(name).or_else(|| Some("otp-local".to_owned())),
        _ => lookup(name),
    };
    AwsSettings::from_lookup(&with_table)?;
    Ok(())
}
