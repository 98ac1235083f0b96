//! Lambda function behind `POST /fe/users/auth/otp/resend`.

use lambda_http::{Error, service_fn};
use otp_shared::http::Endpoint;

#[tokio::main]
async fn main() -> Result<(), Error> {
    otp_shared::telemetry::init_lambda();
    let api = otp_shared::aws::api_from_env().await?;
    lambda_http::run(service_fn(|request| api.handle(Endpoint::Resend, request))).await
}
