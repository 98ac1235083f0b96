//! The API Gateway HTTP API (payload 2.0) events in `events/`, the same files that drive
//! `sam local invoke`, and the example environment their tokens are signed for.

use lambda_http::Request;
use otp_shared::config::Settings;
use otp_shared::http::{Endpoint, TOKEN_HEADER};
use serde_json::Value;

const REGISTER: &str = include_str!("../../events/register.json");
const VERIFY: &str = include_str!("../../events/verify.json");
const RESEND: &str = include_str!("../../events/resend.json");
const BAD_TOKEN: &str = include_str!("../../events/register-bad-token.json");
const ENV: &str = include_str!("../../events/env.json");

/// An event, to adjust before turning it into a [`Request`].
#[derive(Debug, Clone)]
pub struct Event(Value);

/// `events/register.json`: alice registers +91 98765 43219.
pub fn register() -> Event {
    Event::parse(REGISTER)
}

/// `events/verify.json`: alice verifies with authCode 1234 and code 123456, as numbers.
pub fn verify() -> Event {
    Event::parse(VERIFY)
}

/// `events/resend.json`: alice asks for a new code.
pub fn resend() -> Event {
    Event::parse(RESEND)
}

/// `events/register-bad-token.json`: a register whose token has a forged signature.
pub fn bad_token() -> Event {
    Event::parse(BAD_TOKEN)
}

/// The event file of `endpoint`.
pub fn for_endpoint(endpoint: Endpoint) -> Event {
    match endpoint {
        Endpoint::Register => register(),
        Endpoint::Verify => verify(),
        Endpoint::Resend => resend(),
    }
}

impl Event {
    fn parse(json: &str) -> Self {
        Self(serde_json::from_str(json).unwrap())
    }

    /// With `body` serialised as the request body.
    pub fn body(self, body: Value) -> Self {
        self.raw_body(&body.to_string())
    }

    /// With `text` as the request body, as it is.
    pub fn raw_body(mut self, text: &str) -> Self {
        self.0["body"] = Value::String(text.to_owned());
        self.0["isBase64Encoded"] = Value::Bool(false);
        self
    }

    /// With `value` in the `user-jwt-token` header.
    pub fn token(self, value: &str) -> Self {
        self.header(TOKEN_HEADER, value)
    }

    /// Without a `user-jwt-token` header.
    pub fn without_token(mut self) -> Self {
        if let Some(headers) = self.0["headers"].as_object_mut() {
            headers.remove(TOKEN_HEADER);
        }
        self
    }

    /// With header `name` set to `value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0["headers"][name] = Value::String(value.to_owned());
        self
    }

    /// From `ip`, as API Gateway reports the caller's address.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.0["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_owned());
        self
    }

    /// The event as JSON, to change what the other methods do not cover.
    pub fn json_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    /// The request a Lambda function receives for this event.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string()).unwrap()
    }

    /// The `user-jwt-token` header's value.
    pub fn token_value(&self) -> String {
        self.0["headers"][TOKEN_HEADER].as_str().unwrap().to_owned()
    }
}

/// `events/env.json`'s variables, as a lookup: what `sam local invoke --env-vars` gives the
/// functions, and the secret the events' tokens are signed with.
pub fn example_env() -> impl Fn(&str) -> Option<String> + Clone + use<> {
    let env: Value = serde_json::from_str(ENV).unwrap();
    move |name: &str| env["Parameters"][name].as_str().map(str::to_owned)
}

/// The example environment with `overrides` on top.
pub fn example_env_with(
    overrides: &[(&str, &str)],
) -> impl Fn(&str) -> Option<String> + Clone + use<> {
    let base = example_env();
    let overrides: Vec<(String, String)> =
        overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name: &str| {
        overrides.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| base(name))
    }
}

/// The settings of the example environment.
pub fn example_settings() -> Settings {
    Settings::from_lookup(&example_env()).unwrap()
}
