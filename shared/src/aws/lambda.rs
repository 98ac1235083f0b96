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
//! Register or resend, worst case: JWKS 1.5 + the reads (owner and breaker, one request)
//! 2 + the issue, or the breaker's trip on a refusal, 2 + (`Publish` ∥ tally) 3 + withdrawing
//! after a failed SMS (its refunds alongside) 2 = 10.5 s. Verify: JWKS 1.5 + check 2 (its
//! tally runs alongside) + taking the tally back when the check did not use the code 2 =
//! 5.5 s. [`REQUEST_DEADLINE`] (12 s) answers `503` should the sum ever be
//! wrong, and leaves 3 s of the function timeout for the runtime to hand the answer back.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, StalledStreamProtectionConfig};
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use aws_sdk_dynamodb::types::AttributeValue;

pub use crate::config::AwsSettings;
use crate::config::{ConfigError, Settings, parse_or};
use crate::http::{Api, Endpoint};
use crate::jwt::JwtVerifier;
use crate::otp::OtpService;
use crate::secrets;
use crate::sms::SnsSender;
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

/// The longest warming the clients may hold up a start.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_millis(1500);

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
/// [`DYNAMODB_ATTEMPT_TIMEOUT`], with short backoffs, within [`STORE_CALL_BUDGET`].
///
/// Stalled-stream protection is off here and for SNS: the attempt timeout ends a stalled
/// answer sooner than its 5 s grace period would, and its interceptor and the body it wraps
/// around each answer are work on every request.
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

/// Everything the function behind `endpoint` needs, from its environment: what each `main`
/// calls once, at init. A missing or invalid setting fails here, naming the variable. Unless
/// `OTP_WARM_CLIENTS=false`, the clients the endpoint uses are warmed first (see [`warm`]).
pub async fn api_from_env(endpoint: Endpoint) -> Result<AwsApi, ConfigError> {
    tracing::info!(version = crate::VERSION, endpoint = endpoint.path(), "starting");
    let lookup = |name: &str| std::env::var(name).ok();
    let (settings, aws, clients) = settings_and_clients(&lookup, &sdk_config()?).await?;
    if parse_or(&lookup, "OTP_WARM_CLIENTS", true)? {
        warm(&clients, &aws.table_name, endpoint).await;
    }
    api(settings, aws, clients.dynamodb, clients.sns).await
}

/// The API from the variables `lookup` gives, over clients made from `sdk`. Secret settings
/// given by reference (`<NAME>_SECRET_ARN`, `<NAME>_PARAMETER`) are fetched first, once.
pub async fn api_from_lookup(
    lookup: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<AwsApi, ConfigError> {
    let (settings, aws, clients) = settings_and_clients(lookup, sdk).await?;
    api(settings, aws, clients.dynamodb, clients.sns).await
}

/// The SDK clients a function talks to.
struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
}

async fn settings_and_clients(
    lookup: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> Result<(Settings, AwsSettings, Clients), ConfigError> {
    let fetched = secrets::resolve(lookup, &secrets_config(sdk)).await?;
    let lookup = |name: &str| fetched.get(name).cloned().or_else(|| lookup(name));
    let settings = Settings::from_lookup(&lookup)?;
    let aws = AwsSettings::from_lookup(&lookup)?;
    let clients = Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk).build()),
        sns: aws_sdk_sns::Client::from_conf(sns_config(sdk).build()),
    };
    Ok((settings, aws, clients))
}

/// Does at init what the first request would otherwise do lazily: opens the connections
/// (TCP and TLS) to DynamoDB and, for the sending endpoints, SNS, with one cheap request
/// each that reads nothing and changes nothing (a `GetItem` of a key no item has; SNS's
/// `GetSMSAttributes` for the default SMS type), and loads the phone-number metadata. In
/// Lambda, init runs before the first request is waiting, on a CPU that is not throttled
/// yet. Bounded by [`WARM_UP_TIMEOUT`]; any failure is logged and ignored, so an outage
/// never stops a start.
async fn warm(clients: &Clients, table: &str, endpoint: Endpoint) {
    let dynamodb = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("verified#warm-up".into()))
        .send();
    let sns = async {
        match endpoint {
            Endpoint::Verify => Ok(()),
            Endpoint::Register | Endpoint::Resend => {
                let attributes = clients.sns.get_sms_attributes().attributes("DefaultSMSType");
                attributes.send().await.map(drop).map_err(|error| error.to_string())
            }
        }
    };
    let phones = async {
        // The metadata and the patterns of one region; others load on first use.
        let _ = crate::phone::PhoneNumber::parse("+14155550100", "");
    };
    let warmed = tokio::time::timeout(WARM_UP_TIMEOUT, async {
        let (dynamodb, sns, ()) = tokio::join!(dynamodb, sns, phones);
        (dynamodb.map(drop).map_err(|error| error.to_string()), sns)
    })
    .await;
    match warmed {
        Ok((Ok(()), Ok(()))) => tracing::debug!("clients warmed"),
        Ok((dynamodb, sns)) => {
            tracing::warn!(dynamodb = ?dynamodb.err(), sns = ?sns.err(), "warming the clients failed")
        }
        Err(_) => tracing::warn!(timeout = ?WARM_UP_TIMEOUT, "warming the clients timed out"),
    }
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
