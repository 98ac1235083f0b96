//! moto's DynamoDB and SNS emulation, which `make test` starts (`scripts/harness/with-moto.sh`) and
//! names in `MOTO_ENDPOINT`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The emulator's URL, from `MOTO_ENDPOINT`. Without it these tests fail: they never skip.
pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: run these tests with `make test`, which starts moto_server"
        )
    })
}

/// SDK configuration pointing at the emulator, with test credentials.
pub async fn sdk() -> SdkConfig {
    sdk_at(&endpoint()).await
}

/// SDK configuration pointing at `endpoint`, with test credentials, made as the functions
/// make theirs ([`otp_shared::aws::sdk_config_from`]), so that every test against the
/// emulator goes through it.
async fn sdk_at(endpoint: &str) -> SdkConfig {
    let variables = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint),
    ];
    let lookup = |name: &str| {
        variables.iter().find(|(variable, _)| *variable == name).map(|(_, value)| value.to_string())
    };
    otp_shared::aws::sdk_config_from(&lookup).expect("the test configuration is complete")
}

/// The bodies of the SMS the emulator has accepted for `phone`, oldest first.
pub async fn sent_sms(phone: &str) -> Vec<String> {
    sent_sms_at(&endpoint(), phone).await
}

/// The bodies of the SMS the emulator at `endpoint` has accepted for `phone`.
async fn sent_sms_at(endpoint: &str, phone: &str) -> Vec<String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("{endpoint}/moto-api/data.json").parse().unwrap();
    let response = client.get(uri).await.expect("moto answers");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let data: Value = serde_json::from_slice(&bytes).unwrap();
    data["sns"]["SMS"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|sms| sms["phone_number"] == phone)
                .map(|sms| sms["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How long a store call against the emulator may take. moto serialises every request
/// behind one lock, so forty conflicting transactions on a 2-core CI machine that is also
/// running other test binaries can take seconds; these tests are about exactness, not
/// latency (the deployed budget, `CALL_BUDGET`, is measured by `make bench`).
pub const EMULATOR_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// A DynamoDB store on `table` through `client`, with [`EMULATOR_CALL_BUDGET`] per call.
pub fn store_on(client: aws_sdk_dynamodb::Client, table: &str) -> otp_shared::store::DynamoStore {
    otp_shared::store::DynamoStore::new(client, table).with_call_budget(EMULATOR_CALL_BUDGET)
}

/// A fresh table shaped as `template.yaml` makes it, and its name.
pub async fn fresh_table(sdk: &SdkConfig) -> String {
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let name = format!("otp-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
    let client = aws_sdk_dynamodb::Client::new(sdk);
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the emulator creates tables");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("purge_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    name
}

/// Deletes a table [`fresh_table`] made, for tests that fill one with thousands of items:
/// moto copies a whole table for every transaction on it, so a big one slows every test.
pub async fn drop_table(sdk: &SdkConfig, table: &str) {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    client.delete_table().table_name(table).send().await.expect("moto deletes the table");
}

/// The SNS `Publish` requests an SDK client transmits, as their form fields (`PhoneNumber`,
/// `Message`, `MessageAttributes.entry.1.Name`, ...); add it to a client's config with
/// `.interceptor(recorder.clone())`.
#[derive(Debug, Clone, Default)]
pub struct PublishRecorder(Arc<Mutex<Vec<FormFields>>>);

/// A form-encoded request body, field by field, in order.
pub type FormFields = Vec<(String, String)>;

impl PublishRecorder {
    /// The requests so far, emptying the record.
    pub fn take(&self) -> Vec<FormFields> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The message attributes of a recorded request: name to (data type, value).
    pub fn attributes(
        request: &[(String, String)],
    ) -> std::collections::BTreeMap<String, (String, String)> {
        let field = |key: String| request.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        (1..)
            .map_while(|n| {
                let prefix = format!("MessageAttributes.entry.{n}");
                let name = field(format!("{prefix}.Name"))?;
                let data_type = field(format!("{prefix}.Value.DataType")).unwrap_or_default();
                let value = field(format!("{prefix}.Value.StringValue")).unwrap_or_default();
                Some((name, (data_type, value)))
            })
            .collect()
    }
}

impl Intercept for PublishRecorder {
    fn name(&self) -> &'static str {
        "PublishRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let fields: Vec<(String, String)> =
            form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        if fields.iter().any(|(k, v)| k == "Action" && v == "Publish") {
            self.0.lock().unwrap().push(fields);
        }
        Ok(())
    }
}

/// Records `service:operation` for every request an SDK client transmits; add it to a
/// client's config with `.interceptor(log.clone())`.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// The requests so far, emptying the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg.load::<Metadata>().ok_or("no operation metadata")?;
        self.0.lock().unwrap().push(format!("{}:{}", metadata.service(), metadata.name()));
        Ok(())
    }
}

/// The fault-injecting proxy (`scripts/harness/fault_proxy.py`) in front of an emulator of its
/// own, from `FAULT_PROXY_ENDPOINT` and `FAULT_PROXY_UPSTREAM`: point an SDK at
/// [`FaultProxy::sdk`], tell the proxy which calls to fail, and look behind it with
/// [`FaultProxy::direct_sdk`] and [`FaultProxy::sent_sms`].
#[derive(Debug, Clone)]
pub struct FaultProxy {
    endpoint: String,
    upstream: String,
}

impl FaultProxy {
    /// The proxy `make test` started.
    pub fn from_env() -> Self {
        let variable = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} is not set: run these tests with `make test`"))
        };
        Self {
            endpoint: variable("FAULT_PROXY_ENDPOINT"),
            upstream: variable("FAULT_PROXY_UPSTREAM"),
        }
    }

    /// SDK configuration straight to the emulator behind the proxy, for making tables and
    /// reading what the calls left.
    pub async fn direct_sdk(&self) -> SdkConfig {
        sdk_at(&self.upstream).await
    }

    /// The SMS the emulator behind the proxy accepted for `phone`.
    pub async fn sent_sms(&self, phone: &str) -> Vec<String> {
        sent_sms_at(&self.upstream, phone).await
    }

    /// The URL to give the SDK as its endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing at the proxy, with test credentials.
    pub async fn sdk(&self) -> SdkConfig {
        sdk_at(&self.endpoint).await
    }

    /// From now on, calls to `operation` (such as `DynamoDB:TransactWriteItems` or
    /// `SNS:Publish`) get `fault`: every one, or the first `count`; `delay_seconds` for the
    /// `delay` fault.
    pub async fn fail(
        &self,
        operation: &str,
        fault: &str,
        delay_seconds: Option<f64>,
        count: Option<u32>,
    ) {
        let rule = serde_json::json!({
            "operation": operation, "fault": fault, "share": 1.0,
            "delay_seconds": delay_seconds, "count": count,
        });
        let answer = self.control("POST", "faults", rule.to_string()).await;
        assert_eq!(answer["ok"], true, "the proxy took the rule: {answer}");
    }

    /// No call fails any more.
    pub async fn clear(&self) {
        self.control("DELETE", "faults", String::new()).await;
    }

    /// The calls received per operation since the last [`FaultProxy::reset_counts`].
    pub async fn requests(&self) -> Value {
        self.control("GET", "requests", String::new()).await
    }

    /// Starts the counts afresh.
    pub async fn reset_counts(&self) {
        self.control("DELETE", "requests", String::new()).await;
    }

    async fn control(&self, method: &str, path: &str, body: String) -> Value {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}/_proxy/{path}", self.endpoint))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = client.request(request).await.expect("the fault proxy answers");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }
}
