//! The AWS adapters against moto's DynamoDB and SNS emulation, which `make test` starts.

mod end_to_end;
mod secrets;
mod sns;
mod store;
mod upgrade;
mod wiring;
