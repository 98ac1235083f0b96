//! Wiring for the Lambda functions: settings, SDK clients built once with timeouts, and the
//! API over the DynamoDB store and the SNS sender.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{ConfigError, Settings, optional, required};
use crate::http::Api;
use crate::jwt::JwtVerifier;
use crate::otp::OtpService;
use crate::sms::SnsSender;
use crate::store::DynamoStore;
use crate::system::{OsRandom, SystemClock};

/// The API as the Lambda functions run it.
pub type AwsApi = Api<DynamoStore, SnsSender, SystemClock, OsRandom>;

/// Settings of the AWS adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Alphanumeric sender ID for SMS (`SMS_SENDER_ID`), where the country supports one.
    pub sms_sender_id: Option<String>,
}

impl AwsSettings {
    /// Reads the adapters' settings through `lookup`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(lookup, "TABLE_NAME")?,
            sms_sender_id: optional(lookup, "SMS_SENDER_ID"),
        })
    }
}

/// SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL` and
/// its per-service forms), with timeouts that keep every call well inside the function's
/// 10 second timeout: 1 s per attempt, 3 s per operation with its retries.
pub async fn sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build();
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await
}

/// The API over the given DynamoDB and SNS clients.
pub async fn api(
    settings: Settings,
    aws: AwsSettings,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
) -> Result<AwsApi, ConfigError> {
    let store = DynamoStore::new(dynamodb, aws.table_name);
    let sms = SnsSender::new(sns, aws.sms_sender_id);
    let otp =
        OtpService::new(store, sms, SystemClock, OsRandom, settings.policy, settings.hash_key);
    let jwt = JwtVerifier::new(&settings.jwt).await.map_err(|error| ConfigError::Invalid {
        name: "JWT_JWKS_URL",
        reason: error.to_string(),
    })?;
    Ok(Api::new(jwt, otp))
}

/// Everything a function needs, from its environment: what each `main` calls once, at init.
/// A missing or invalid setting fails here, naming the variable.
pub async fn api_from_env() -> Result<AwsApi, ConfigError> {
    api_from_lookup(&|name: &str| std::env::var(name).ok(), &sdk_config().await).await
}

/// The API from the variables `lookup` gives, over clients made from `sdk`.
pub async fn api_from_lookup(
    lookup: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<AwsApi, ConfigError> {
    let settings = Settings::from_lookup(lookup)?;
    let aws = AwsSettings::from_lookup(lookup)?;
    api(settings, aws, aws_sdk_dynamodb::Client::new(sdk), aws_sdk_sns::Client::new(sdk)).await
}
