//! The AWS side: SDK configuration from Lambda's variables ([`sdk`]), secret settings from
//! Secrets Manager and Parameter Store ([`secrets`]), and the API as a Lambda function runs
//! it over the DynamoDB store and the SNS sender ([`lambda`]).
//!
//! # Time budget
//!
//! The function timeout is 15 s (`Timeout` in `template.yaml`). Every call is bounded so
//! that the worst case still ends with a JSON answer well inside it:
//!
//! | call | bound |
//! | --- | --- |
//! | JWKS fetch on an unknown `kid` | 1.5 s ([`crate::jwt::FETCH_TIMEOUT`]) |
//! | one store call, SDK retries and conflict retries included | 2 s ([`CALL_BUDGET`](crate::store::dynamodb::CALL_BUDGET)) |
//! | SNS `Publish`, one attempt, never retried | 3 s ([`SMS_TIMEOUT`](sdk::SMS_TIMEOUT)) |
//!
//! Register or resend, worst case: JWKS 1.5 + the reads (owner and breaker, one request)
//! 2 + the issue, or the breaker's trip on a refusal, 2 + (`Publish` ∥ tally) 3 + withdrawing
//! after a failed SMS (its refunds alongside) 2 = 10.5 s. Verify: JWKS 1.5 + check 2 (its
//! tally runs alongside) + taking the tally back when the check did not use the code 2 =
//! 5.5 s. [`REQUEST_DEADLINE`](crate::http::REQUEST_DEADLINE) (12 s) answers `503` should the sum ever be
//! wrong, and leaves 3 s of the function timeout for the runtime to hand the answer back.

pub mod lambda;
pub mod sdk;
pub mod secrets;

pub use lambda::{AwsApi, api, api_from_env, api_from_lookup};
pub use sdk::{dynamodb_config, sdk_config, sdk_config_from, sns_config};

pub use crate::config::AwsSettings;
