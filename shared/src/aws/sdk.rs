//! SDK configuration from the variables Lambda sets, and each client's retries and
//! timeouts. `aws-config`'s provider chain is not linked: a function needs none of it.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, StalledStreamProtectionConfig};
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::ConfigError;
use crate::store::dynamodb::CALL_BUDGET;

/// The longest one DynamoDB attempt may take; the SDK tries up to three times.
pub const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);

/// The longest SNS `Publish` may take. It is tried once: a retry after SNS accepted the
/// message would send a second SMS.
pub const SMS_TIMEOUT: Duration = Duration::from_secs(3);

/// SDK configuration from the environment, as Lambda sets it (see [`sdk_config_from`]).
pub fn sdk_config() -> Result<SdkConfig, ConfigError> {
    sdk_config_from(&|name: &str| std::env::var(name).ok())
}

/// SDK configuration from the variables `lookup` gives: the region (`AWS_REGION`, or
/// `AWS_DEFAULT_REGION`), the credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`, which Lambda sets for the function's role), and `AWS_ENDPOINT_URL`
/// with its per-service forms (`AWS_ENDPOINT_URL_DYNAMODB`, ...). An empty value counts as
/// unset. A missing region or key fails the start, naming the variable.
///
/// This is what `aws-config`'s default chain finds in Lambda; the rest of that chain
/// (profiles, SSO, IMDS, container and web-identity credentials, and the STS client they
/// need) is never used by a function, and is not linked into one.
pub fn sdk_config_from(lookup: &impl Fn(&str) -> Option<String>) -> Result<SdkConfig, ConfigError> {
    let set = |name: &str| lookup(name).filter(|value| !value.is_empty());
    let region = set("AWS_REGION")
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .ok_or(ConfigError::Missing("AWS_REGION"))?;
    let access_key = set("AWS_ACCESS_KEY_ID").ok_or(ConfigError::Missing("AWS_ACCESS_KEY_ID"))?;
    let secret_key =
        set("AWS_SECRET_ACCESS_KEY").ok_or(ConfigError::Missing("AWS_SECRET_ACCESS_KEY"))?;
    let credentials =
        Credentials::new(access_key, secret_key, set("AWS_SESSION_TOKEN"), None, "environment");
    let endpoints = EndpointUrls {
        all: set("AWS_ENDPOINT_URL"),
        by_service: SERVICE_IDS
            .iter()
            .filter_map(|id| Some((*id, set(&EndpointUrls::variable(id))?)))
            .collect(),
    };
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .service_config(endpoints)
        .build())
}

/// The SDK's ids of the services the functions call.
const SERVICE_IDS: [&str; 4] = ["DynamoDB", "SNS", "Secrets Manager", "SSM"];

/// The endpoint URLs the environment sets, which each client asks for as it is built:
/// `AWS_ENDPOINT_URL_<SERVICE>` before `AWS_ENDPOINT_URL`, as `aws-config` reads them.
#[derive(Debug)]
struct EndpointUrls {
    all: Option<String>,
    by_service: Vec<(&'static str, String)>,
}

impl EndpointUrls {
    /// The variable of one service's endpoint: `AWS_ENDPOINT_URL_SECRETS_MANAGER` for
    /// `Secrets Manager`.
    fn variable(service_id: &str) -> String {
        format!("AWS_ENDPOINT_URL_{}", service_id.to_ascii_uppercase().replace(' ', "_"))
    }
}

impl LoadServiceConfig for EndpointUrls {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let own = self.by_service.iter().find(|(id, _)| *id == key.service_id());
        own.map(|(_, url)| url).or(self.all.as_ref()).cloned()
    }
}

/// The DynamoDB client configuration: up to three attempts of at most
/// [`DYNAMODB_ATTEMPT_TIMEOUT`], with short backoffs, within [`CALL_BUDGET`].
///
/// Stalled-stream protection is off here and for SNS: the attempt timeout ends a stalled
/// answer sooner than its 5 s grace period would, and its interceptor and the body it wraps
/// around each answer are work on every request.
pub fn dynamodb_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(DYNAMODB_ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_BUDGET)
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_millis(200));
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .retry_config(retries)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
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
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// The configuration the secrets are fetched with at init: a slow or absent Secrets
/// Manager fails the start within seconds rather than hanging it.
pub(super) fn secrets_config(sdk: &SdkConfig) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build();
    sdk.to_builder().timeout_config(timeouts).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        move |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, value)| value.clone())
    }

    const LAMBDA: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "session"),
    ];

    fn endpoint_of(sdk: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config()?.load_config(key)
    }

    #[tokio::test]
    async fn the_region_and_the_credentials_come_from_lambdas_variables() {
        let sdk = sdk_config_from(&environment(&LAMBDA)).unwrap();
        assert_eq!(sdk.region().map(|region| region.as_ref()), Some("eu-west-1"));
        let provider = sdk.credentials_provider().unwrap();
        let credentials = provider.provide_credentials().await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("session"));
        assert_eq!(endpoint_of(&sdk, "DynamoDB"), None);
    }

    #[test]
    fn a_services_own_endpoint_comes_before_the_shared_one_and_empty_is_unset() {
        let mut pairs = LAMBDA.to_vec();
        pairs.extend([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9000"),
            ("AWS_ENDPOINT_URL_SNS", ""),
        ]);
        let sdk = sdk_config_from(&environment(&pairs)).unwrap();
        assert_eq!(endpoint_of(&sdk, "DynamoDB").as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(endpoint_of(&sdk, "Secrets Manager").as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(endpoint_of(&sdk, "SNS").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(endpoint_of(&sdk, "SSM").as_deref(), Some("http://127.0.0.1:5000"));

        let empty = [LAMBDA.as_slice(), &[("AWS_ENDPOINT_URL", "")]].concat();
        assert_eq!(endpoint_of(&sdk_config_from(&environment(&empty)).unwrap(), "SNS"), None);
    }

    #[test]
    fn a_missing_region_or_key_names_its_variable() {
        let without = |name: &str| {
            let pairs: Vec<_> = LAMBDA.iter().copied().filter(|(n, _)| *n != name).collect();
            sdk_config_from(&environment(&pairs)).unwrap_err().to_string()
        };
        assert_eq!(without("AWS_REGION"), "AWS_REGION is required");
        assert_eq!(without("AWS_ACCESS_KEY_ID"), "AWS_ACCESS_KEY_ID is required");
        assert_eq!(without("AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY is required");
        let default_region = [&LAMBDA[1..], &[("AWS_DEFAULT_REGION", "us-east-2")]].concat();
        let sdk = sdk_config_from(&environment(&default_region)).unwrap();
        assert_eq!(sdk.region().map(|region| region.as_ref()), Some("us-east-2"));
    }
}
