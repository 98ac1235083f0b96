//! The shared crate from the outside, in one test binary (it links once): the HTTP layer on
//! the events in `events/`, hostile tokens, generated inputs, what logs and metrics carry,
//! and the AWS adapters against moto. Helpers come from `otp-testkit`.
#![allow(clippy::unwrap_used)]

mod breaker_campaign;
mod documented_defaults;
mod fault_matrix;
mod http;
mod jwt;
mod moto;
mod properties;
mod store_contract;
mod store_scripted;
mod telemetry;
mod template_iam;
mod template_metrics;
mod template_parameters;
