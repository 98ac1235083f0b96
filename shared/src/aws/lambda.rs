//! The API as a Lambda function runs it: settings and secrets read once at init, the SDK
//! clients built once and warmed, over the DynamoDB store and the SNS sender.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_types::SdkConfig;

use super::sdk::{dynamodb_config, sdk_config, secrets_config, sns_config};
use super::secrets;
use crate::config::{AwsSettings, ConfigError, Settings};
use crate::http::{Api, Endpoint};
use crate::sms::SnsSender;
use crate::store::DynamoStore;
use crate::system::{OsRandom, SystemClock};

/// The API as the Lambda functions run it.
pub type AwsApi = Api<DynamoStore, SnsSender, SystemClock, OsRandom>;

/// The longest warming the clients may hold up a start.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_millis(1500);

/// The API over the given DynamoDB and SNS clients.
pub async fn api(
    settings: Settings,
    aws: AwsSettings,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
) -> Result<AwsApi, ConfigError> {
    let store = DynamoStore::new(dynamodb, aws.table_name);
    let sender = SnsSender::new(sns, aws.senders);
    Api::from_settings(settings, store, sender).await
}

/// Everything the function behind `endpoint` needs, from its environment: what each `main`
/// calls once, at init. A missing or invalid setting fails here, naming the variable. Unless
/// `OTP_WARM_CLIENTS=false`, the clients the endpoint uses are warmed first (see [`warm`]).
pub async fn api_from_env(endpoint: Endpoint) -> Result<AwsApi, ConfigError> {
    tracing::info!(version = crate::VERSION, endpoint = endpoint.path(), "starting");
    let lookup = |name: &str| std::env::var(name).ok();
    let (settings, aws, clients) = settings_and_clients(&lookup, &sdk_config()?).await?;
    if aws.warm_clients {
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
