//! Secret settings kept where AWS keeps secrets. Each of [`SECRET_VARIABLES`] may be given
//! as its value (`JWT_SECRET`, for `otp-local` and tests), as an AWS Secrets Manager secret
//! (`JWT_SECRET_SECRET_ARN`), or as an SSM Parameter Store `SecureString`
//! (`JWT_SECRET_PARAMETER`); exactly one of the three.
//!
//! They are read once, at init, concurrently: one `GetSecretValue` per distinct secret (the
//! template's secrets hold their values as JSON objects keyed by variable name) and one
//! `GetParameters` for all parameters. A secret whose string is not a JSON object is the
//! value itself. Errors name the variable and never hold a value.

use std::collections::{BTreeMap, HashMap};

use aws_types::SdkConfig;

pub use crate::config::SECRET_VARIABLES;
use crate::config::{ConfigError, optional};

/// Where one secret setting comes from: a secret's ARN or a parameter's name, and the
/// variable that said so.
enum Source {
    Secret(String, &'static str),
    Parameter(String, &'static str),
}

impl Source {
    /// The secret's ARN and the variable that names it, for a secret.
    fn secret(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::Secret(arn, variable) => Some((arn, variable)),
            Self::Parameter(..) => None,
        }
    }

    /// The parameter's name and the variable that names it, for a parameter.
    fn parameter(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::Parameter(name, variable) => Some((name, variable)),
            Self::Secret(..) => None,
        }
    }
}

/// The values of the secret settings `lookup` gives by reference, fetched through `sdk`'s
/// Secrets Manager and SSM, by variable name; settings given by value are left to `lookup`.
pub async fn resolve(
    lookup: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut sources = BTreeMap::new();
    for (name, secret_variable, parameter_variable) in SECRET_VARIABLES {
        let by_value = optional(lookup, name).is_some();
        let secret =
            optional(lookup, secret_variable).map(|arn| Source::Secret(arn, secret_variable));
        let parameter = optional(lookup, parameter_variable)
            .map(|name| Source::Parameter(name, parameter_variable));
        match (by_value, secret, parameter) {
            (false, Some(source), None) | (false, None, Some(source)) => {
                sources.insert(name, source);
            }
            (false, None, None) | (true, None, None) => {}
            _ => {
                let reason =
                    format!("set only one of {name}, {secret_variable} and {parameter_variable}");
                return Err(ConfigError::Invalid { name, reason });
            }
        }
    }
    let (secrets, parameters) =
        tokio::join!(secret_strings(&sources, sdk), parameter_values(&sources, sdk));
    let (secrets, parameters) = (secrets?, parameters?);
    let mut values = HashMap::new();
    for (name, source) in &sources {
        let value = match source {
            Source::Secret(arn, variable) => {
                value_in_secret(name, &secrets[arn]).ok_or_else(|| {
                    let reason = format!("the secret is a JSON object without a {name} string");
                    ConfigError::Invalid { name: variable, reason }
                })?
            }
            Source::Parameter(parameter, _) => parameters[parameter].clone(),
        };
        values.insert((*name).to_owned(), value);
    }
    if let Some(variable) = signing_key_beside(&sources, &secrets) {
        tracing::error!(
            variable,
            "the secret this variable names also holds VERIFICATION_TOKEN_PRIVATE_KEY, which \
             this function does not use and should not be able to read: move the key to a \
             secret of its own (ExistingSigningKeySecretArn, docs/deploying.md)"
        );
    }
    Ok(values)
}

/// The variable naming a secret that holds `VERIFICATION_TOKEN_PRIVATE_KEY` although this
/// function does not read the key from it: a sending function that could mint tokens.
fn signing_key_beside(
    sources: &BTreeMap<&str, Source>,
    secrets: &HashMap<String, String>,
) -> Option<&'static str> {
    const KEY: &str = "VERIFICATION_TOKEN_PRIVATE_KEY";
    let read_here =
        |arn: &str| matches!(sources.get(KEY), Some(Source::Secret(key_arn, _)) if key_arn == arn);
    sources.values().filter_map(Source::secret).find_map(|(arn, variable)| {
        // An empty member (`""`) is the documented way to say "none": it exposes nothing.
        let holds_key =
            serde_json::from_str::<serde_json::Value>(&secrets[arn]).is_ok_and(|secret| {
                secret.get(KEY).and_then(|key| key.as_str()).is_some_and(|key| !key.is_empty())
            });
        (holds_key && !read_here(arn)).then_some(variable)
    })
}

/// The value of `name` in a secret's string: its `name` member when the string is a JSON
/// object, the whole string otherwise.
fn value_in_secret(name: &str, secret: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(secret) {
        Ok(serde_json::Value::Object(object)) => object.get(name)?.as_str().map(str::to_owned),
        _ => Some(secret.to_owned()),
    }
}

/// Each distinct secret's string, fetched once; the secrets are read at the same time, so
/// that init waits for one round trip however many there are.
async fn secret_strings(
    sources: &BTreeMap<&str, Source>,
    sdk: &SdkConfig,
) -> Result<HashMap<String, String>, ConfigError> {
    let wanted: BTreeMap<&str, &'static str> =
        sources.values().filter_map(Source::secret).collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let reads = wanted.into_iter().map(|(arn, variable)| {
        let client = &client;
        async move {
            let unreadable = |reason: String| ConfigError::Invalid { name: variable, reason };
            let output =
                client.get_secret_value().secret_id(arn).send().await.map_err(|error| {
                    unreadable(format!("the secret could not be read: {}", error_code(&error)))
                })?;
            let string = output
                .secret_string
                .ok_or_else(|| unreadable("the secret has no string value".to_owned()))?;
            Ok((arn.to_owned(), string))
        }
    });
    Ok(futures_util::future::try_join_all(reads).await?.into_iter().collect())
}

/// Every parameter's decrypted value, fetched in one call.
async fn parameter_values(
    sources: &BTreeMap<&str, Source>,
    sdk: &SdkConfig,
) -> Result<HashMap<String, String>, ConfigError> {
    let wanted: BTreeMap<&str, &'static str> =
        sources.values().filter_map(Source::parameter).collect();
    let Some((_, first_variable)) = wanted.first_key_value() else {
        return Ok(HashMap::new());
    };
    let output = aws_sdk_ssm::Client::new(sdk)
        .get_parameters()
        .set_names(Some(wanted.keys().map(|name| (*name).to_owned()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| ConfigError::Invalid {
            name: first_variable,
            reason: format!("the parameters could not be read: {}", error_code(&error)),
        })?;
    let mut values = HashMap::new();
    for (name, variable) in wanted {
        let invalid =
            |reason: &str| ConfigError::Invalid { name: variable, reason: reason.to_owned() };
        let parameter = output
            .parameters()
            .iter()
            .find(|parameter| parameter.name() == Some(name))
            .ok_or_else(|| invalid("no such parameter"))?;
        if parameter.r#type() != Some(&aws_sdk_ssm::types::ParameterType::SecureString) {
            return Err(invalid(
                "must be a SecureString parameter: a secret is never kept in clear",
            ));
        }
        values.insert(name.to_owned(), parameter.value().unwrap_or_default().to_owned());
    }
    Ok(values)
}

/// The AWS error code of a failed call, or its kind: never the message, which may quote
/// the request.
fn error_code<E, R>(error: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata,
{
    match error {
        aws_sdk_ssm::error::SdkError::ServiceError(service) => {
            service.err().code().unwrap_or("service error").to_owned()
        }
        aws_sdk_ssm::error::SdkError::TimeoutError(_) => "timed out".to_owned(),
        aws_sdk_ssm::error::SdkError::DispatchFailure(_) => "no connection".to_owned(),
        _ => "request failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_secret_holds_values_by_variable_and_any_other_string_is_the_value() {
        let json = r#"{"JWT_SECRET": "jwt", "OTP_HASH_KEY": "hash"}"#;
        assert_eq!(value_in_secret("OTP_HASH_KEY", json).as_deref(), Some("hash"));
        assert_eq!(value_in_secret("OTP_TEST_NUMBERS", json), None);
        assert_eq!(value_in_secret("JWT_SECRET", "plain-secret").as_deref(), Some("plain-secret"));
        assert_eq!(
            value_in_secret("JWT_SECRET", r#"["not", "an object"]"#).as_deref(),
            Some(r#"["not", "an object"]"#)
        );
    }

    #[test]
    fn a_secret_holding_the_signing_key_is_named_unless_the_key_is_read_from_it() {
        let shared = "arn:shared".to_owned();
        let secrets = HashMap::from([
            (
                shared.clone(),
                r#"{"JWT_SECRET": "j", "VERIFICATION_TOKEN_PRIVATE_KEY": "k"}"#.into(),
            ),
            ("arn:own".to_owned(), r#"{"VERIFICATION_TOKEN_PRIVATE_KEY": "k"}"#.to_owned()),
        ]);
        let sending =
            BTreeMap::from([("JWT_SECRET", Source::Secret(shared, "JWT_SECRET_SECRET_ARN"))]);
        assert_eq!(signing_key_beside(&sending, &secrets), Some("JWT_SECRET_SECRET_ARN"));
        let mut verifying = sending;
        let own = Source::Secret("arn:own".into(), "VERIFICATION_TOKEN_PRIVATE_KEY_SECRET_ARN");
        verifying.insert("VERIFICATION_TOKEN_PRIVATE_KEY", own);
        assert_eq!(signing_key_beside(&verifying, &secrets), Some("JWT_SECRET_SECRET_ARN"));
        verifying.remove("JWT_SECRET");
        assert_eq!(signing_key_beside(&verifying, &secrets), None, "its own secret");
        let empty = HashMap::from([(
            "arn:empty".to_owned(),
            r#"{"JWT_SECRET": "j", "VERIFICATION_TOKEN_PRIVATE_KEY": ""}"#.to_owned(),
        )]);
        let sending = BTreeMap::from([(
            "JWT_SECRET",
            Source::Secret("arn:empty".into(), "JWT_SECRET_SECRET_ARN"),
        )]);
        assert_eq!(signing_key_beside(&sending, &empty), None, "an empty member holds no key");
    }
}
