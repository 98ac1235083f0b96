//! Wiring for the Lambda functions: settings, SDK clients built once with their retries and
//! timeouts, and the API over the DynamoDB store and the SNS sender.
//!
//! # Time budget
//!
//! The function timeout is 15 s (`Timeout` in `template.yaml`). Every call is bounded so
//! that the worst case still ends with a JSON answer well inside it:
//!
//! | call | bound |
//! | --- | --- |
//! | JWKS fetch on an unknown `kid` | 1.5 s ([`crate::jwt::FETCH_TIMEOUT`]) |
//! | one store call, SDK retries and conflict retries included | 2 s ([`STORE_CALL_BUDGET`]) |
//! | SNS `Publish`, one attempt, never retried | 3 s ([`SMS_TIMEOUT`]) |
//!
//! Register or resend, worst case: JWKS 1.5 + (owner lookup ∥ issue) 2 + the owner's
//! second issue 2 + `Publish` 3 + withdrawing after a failed SMS 2 = 10.5 s. Verify: JWKS
//! 1.5 + check 2 = 3.5 s. [`REQUEST_DEADLINE`] (12 s) answers `503` should the sum ever be
//! wrong, and leaves 3 s of the function timeout for the runtime to hand the answer back.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{ConfigError, Settings, optional, optional_parse, required};
use crate::http::Api;
use crate::jwt::JwtVerifier;
use crate::otp::OtpService;
use crate::secrets;
use crate::sms::SnsSender;
use crate::sms::senders::{Sender, Senders};
use crate::store::DynamoStore;
use crate::system::{OsRandom, SystemClock};

/// The API as the Lambda functions run it.
pub type AwsApi = Api<DynamoStore, SnsSender, SystemClock, OsRandom>;

/// The longest one store call may take, retries included.
pub const STORE_CALL_BUDGET: Duration = Duration::from_secs(2);

/// The longest one DynamoDB attempt may take; the SDK tries up to three times.
pub const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);

/// The longest SNS `Publish` may take. It is tried once: a retry after SNS accepted the
/// message would send a second SMS.
pub const SMS_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a request may take before it is answered `503`.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(12);

/// Settings of the AWS adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Who SMS are sent as, per destination country (`SMS_SENDER_ID`, `SMS_SENDERS`, ...).
    pub senders: Senders,
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
        })
    }
}

/// SDK configuration from the environment: region, credentials, and `AWS_ENDPOINT_URL`
/// and its per-service forms.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The DynamoDB client configuration: up to three attempts of at most
/// [`DYNAMODB_ATTEMPT_TIMEOUT`], with short backoffs, within [`STORE_CALL_BUDGET`].
pub fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(DYNAMODB_ATTEMPT_TIMEOUT)
        .operation_timeout(STORE_CALL_BUDGET)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_millis(200));
    aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(timeouts).retry_config(retries)
}

/// The SNS client configuration: one attempt of at most [`SMS_TIMEOUT`].
pub fn sns_config(sdk: &SdkConfig) -> aws_sdk_sns::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(SMS_TIMEOUT)
        .operation_timeout(SMS_TIMEOUT)
        .build();
    aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(RetryConfig::disabled())
}

/// The configuration the secrets are fetched with at init: a slow or absent Secrets
/// Manager fails the start within seconds rather than hanging it.
fn secrets_config(sdk: &SdkConfig) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build();
    sdk.to_builder().timeout_config(timeouts).build()
}

/// The API over the given DynamoDB and SNS clients.
pub async fn api(
    settings: Settings,
    aws: AwsSettings,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
) -> Result<AwsApi, ConfigError> {
    let store = DynamoStore::new(dynamodb, aws.table_name).with_call_budget(STORE_CALL_BUDGET);
    let sms = SnsSender::new(sns, aws.senders);
    let otp =
        OtpService::new(store, sms, SystemClock, OsRandom, settings.policy, settings.hash_key)
            .with_verification_tokens(settings.verification_tokens);
    let jwt = JwtVerifier::new(&settings.jwt).await.map_err(|error| ConfigError::Invalid {
        name: "JWT_JWKS_URL",
        reason: error.to_string(),
    })?;
    Ok(Api::new(jwt, otp).with_deadline(REQUEST_DEADLINE))
}

/// Everything a function needs, from its environment: what each `main` calls once, at init.
/// A missing or invalid setting fails here, naming the variable.
pub async fn api_from_env() -> Result<AwsApi, ConfigError> {
    api_from_lookup(&|name: &str| std::env::var(name).ok(), &sdk_config().await).await
}

/// The API from the variables `lookup` gives, over clients made from `sdk`. Secret settings
/// given by reference (`<NAME>_SECRET_ARN`, `<NAME>_PARAMETER`) are fetched first, once.
pub async fn api_from_lookup(
    lookup: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<AwsApi, ConfigError> {
    let fetched = secrets::resolve(lookup, &secrets_config(sdk)).await?;
    let lookup = |name: &str| fetched.get(name).cloned().or_else(|| lookup(name));
    let settings = Settings::from_lookup(&lookup)?;
    let aws = AwsSettings::from_lookup(&lookup)?;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk).build());
    let sns = aws_sdk_sns::Client::from_conf(sns_config(sdk).build());
    api(settings, aws, dynamodb, sns).await
}
