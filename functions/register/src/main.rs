//! Lambda function behind `POST /fe/users/auth/otp/register`.

use lambda_http::{Error, service_fn};
use otp_shared::http::Endpoint;

// One event at a time: a single-threaded runtime starts faster and spawns no workers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    otp_shared::telemetry::init_lambda();
    let api = otp_shared::aws::api_from_env(Endpoint::Register)
        .await
        .unwrap_or_else(|error| otp_shared::telemetry::exit_at_start(&error));
    lambda_http::run(service_fn(|request| api.handle(Endpoint::Register, request))).await
}
