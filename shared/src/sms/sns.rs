//! An [`SmsSender`] that publishes straight to a phone number with Amazon SNS.

use std::error::Error;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use crate::otp::ports::{SmsError, SmsSender};
use crate::phone::PhoneNumber;

/// Sends transactional SMS through SNS `Publish` with a `PhoneNumber` target.
#[derive(Debug, Clone)]
pub struct SnsSender {
    client: Client,
    sender_id: Option<String>,
}

impl SnsSender {
    /// A sender that uses `sender_id` (`SMS_SENDER_ID`) where the destination supports one.
    pub fn new(client: Client, sender_id: Option<String>) -> Self {
        Self { client, sender_id }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SmsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|_| SmsError::not_sent("message attribute could not be built"))
}

/// What a failed `Publish` says about the message: a refusal from SNS, or a request that
/// never left (it could not be built, or no connection was made), means it will not
/// arrive; a timeout or a connection lost after the request was written means it may.
/// Only SNS's error code is kept: its message may quote the phone number.
fn classify<E, R>(error: SdkError<E, R>) -> SmsError
where
    E: Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            SmsError::not_sent(service.err().code().unwrap_or("service error"))
        }
        SdkError::ConstructionFailure(_) => SmsError::not_sent("request could not be built"),
        SdkError::DispatchFailure(_) if never_connected(&error) => {
            SmsError::not_sent("no connection")
        }
        SdkError::DispatchFailure(_) => SmsError::unknown("connection lost"),
        SdkError::TimeoutError(_) => SmsError::unknown("timed out"),
        _ => SmsError::unknown("unreadable answer"),
    }
}

/// Whether the error's chain shows that no connection was made.
fn never_connected(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|e| e.is_connect())
            || error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = error.source();
    }
    false
}

impl SmsSender for SnsSender {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(to.e164())
            .message(body)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &self.sender_id {
            publish =
                publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        publish.send().await.map_err(classify)?;
        Ok(())
    }
}
