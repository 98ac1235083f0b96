//! Secret settings fetched from moto's Secrets Manager and SSM Parameter Store.

use aws_sdk_ssm::types::ParameterType;
use otp_shared::aws::secrets::resolve;
use otp_shared::config::ConfigError;
use otp_testkit::keys::ED_PRIVATE;
use otp_testkit::moto::sdk;

/// A lookup over `pairs`.
fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

/// A unique name for this run, so tests never share a secret or parameter.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

async fn secret(value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(&sdk().await);
    let created =
        client.create_secret().name(unique("otp")).secret_string(value).send().await.unwrap();
    created.arn.unwrap()
}

async fn parameter(value: &str, kind: ParameterType) -> String {
    let name = format!("/{}", unique("otp"));
    let client = aws_sdk_ssm::Client::new(&sdk().await);
    client.put_parameter().name(&name).value(value).r#type(kind).send().await.unwrap();
    name
}

#[tokio::test]
async fn values_come_from_one_secret_and_from_parameters() {
    let json = serde_json::json!({
        "JWT_SECRET": "jwt-secret-from-secrets-manager-0123456789",
        "OTP_HASH_KEY": "hash-key-from-secrets-manager-0123456789",
    });
    let arn = secret(&json.to_string()).await;
    let key = parameter(ED_PRIVATE, ParameterType::SecureString).await;
    let test_numbers = parameter("+15555550100=123456", ParameterType::SecureString).await;
    let lookup = env(vec![
        ("JWT_SECRET_SECRET_ARN", arn.clone()),
        ("OTP_HASH_KEY_SECRET_ARN", arn),
        ("VERIFICATION_TOKEN_PRIVATE_KEY_PARAMETER", key),
        ("OTP_TEST_NUMBERS_PARAMETER", test_numbers),
    ]);
    let values = resolve(&lookup, &sdk().await).await.unwrap();
    assert_eq!(values["JWT_SECRET"], "jwt-secret-from-secrets-manager-0123456789");
    assert_eq!(values["OTP_HASH_KEY"], "hash-key-from-secrets-manager-0123456789");
    assert_eq!(values["VERIFICATION_TOKEN_PRIVATE_KEY"], ED_PRIVATE);
    assert_eq!(values["OTP_TEST_NUMBERS"], "+15555550100=123456");

    let plain = secret("a-plain-string-secret-0123456789abcdef").await;
    let values = resolve(&env(vec![("JWT_SECRET_SECRET_ARN", plain)]), &sdk().await).await.unwrap();
    assert_eq!(values["JWT_SECRET"], "a-plain-string-secret-0123456789abcdef");
    assert!(
        resolve(&env(vec![("JWT_SECRET", "given".into())]), &sdk().await).await.unwrap().is_empty()
    );
}

#[tokio::test]
async fn every_failure_names_its_variable_and_no_value() {
    let sdk = sdk().await;
    let arn = secret(r#"{"JWT_SECRET": "only-the-jwt-secret-0123456789abcdef"}"#).await;
    let plain = parameter("in-clear-0123456789", ParameterType::String).await;
    let cases = [
        (vec![("JWT_SECRET", "x".into()), ("JWT_SECRET_SECRET_ARN", arn.clone())], "JWT_SECRET"),
        (vec![("OTP_HASH_KEY_SECRET_ARN", arn.clone())], "OTP_HASH_KEY_SECRET_ARN"),
        (vec![("OTP_HASH_KEY_SECRET_ARN", format!("{arn}-gone"))], "OTP_HASH_KEY_SECRET_ARN"),
        (vec![("JWT_SECRET_PARAMETER", "/no/such/parameter".into())], "JWT_SECRET_PARAMETER"),
        (vec![("JWT_SECRET_PARAMETER", plain)], "JWT_SECRET_PARAMETER"),
    ];
    for (pairs, variable) in cases {
        match resolve(&env(pairs), &sdk).await {
            Err(ConfigError::Invalid { name, reason }) => {
                assert_eq!(name, variable, "{reason}");
                assert!(!reason.contains("0123456789"), "no value in {reason}");
            }
            other => panic!("{variable}: expected an error naming it, got {other:?}"),
        }
    }
}
