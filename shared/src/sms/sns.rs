//! An [`MessageSender`] that publishes straight to a phone number with Amazon SNS.

use std::error::Error;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use super::segments::measure;
use super::senders::Senders;
use crate::otp::message::Message;
use crate::otp::ports::{MessageSender, Receipt, SendError};
use crate::phone::PhoneNumber;

/// Sends transactional SMS through SNS `Publish` with a `PhoneNumber` target, with the
/// sender settings of the destination's country as message attributes.
#[derive(Debug, Clone)]
pub struct SnsSender {
    client: Client,
    senders: Senders,
}

impl SnsSender {
    /// A sender that sends as `senders` says for each destination.
    pub fn new(client: Client, senders: Senders) -> Self {
        Self { client, senders }
    }
}

fn attribute(data_type: &str, value: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|_| SendError::not_sent("message attribute could not be built"))
}

/// What a failed `Publish` says about the message: a refusal from SNS, or a request that
/// never left (it could not be built, or no connection was made), means it will not
/// arrive; a timeout or a connection lost after the request was written means it may.
/// Only SNS's error code is kept: its message may quote the phone number.
fn classify<E, R>(error: SdkError<E, R>) -> SendError
where
    E: Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            SendError::not_sent(service.err().code().unwrap_or("service error"))
        }
        SdkError::ConstructionFailure(_) => SendError::not_sent("request could not be built"),
        SdkError::DispatchFailure(_) if never_connected(&error) => {
            SendError::not_sent("no connection")
        }
        SdkError::DispatchFailure(_) => SendError::unknown("connection lost"),
        SdkError::TimeoutError(_) => SendError::unknown("timed out"),
        _ => SendError::unknown("unreadable answer"),
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

impl MessageSender for SnsSender {
    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<Receipt, SendError> {
        let sender = self.senders.for_phone(to);
        let attributes = [
            ("AWS.SNS.SMS.SMSType", Some("Transactional"), "String"),
            ("AWS.SNS.SMS.SenderID", sender.sender_id.as_deref(), "String"),
            ("AWS.MM.SMS.OriginationNumber", sender.origination_number.as_deref(), "String"),
            ("AWS.SNS.SMS.MaxPrice", sender.max_price_usd.as_deref(), "Number"),
            ("AWS.MM.SMS.EntityId", sender.dlt_entity_id.as_deref(), "String"),
            ("AWS.MM.SMS.TemplateId", sender.dlt_template_id_for(&message.locale), "String"),
        ];
        let mut publish = self.client.publish().phone_number(to.e164()).message(&message.text);
        for (name, value, data_type) in attributes {
            if let Some(value) = value {
                publish = publish.message_attributes(name, attribute(data_type, value)?);
            }
        }
        // Boxed, as the store's calls are: an SDK request's future is large.
        let output = Box::pin(publish.send()).await.map_err(classify)?;
        let (encoding, _, segments) = measure(&message.text);
        Ok(Receipt {
            message_id: output.message_id,
            segments: Some(segments),
            encoding: Some(encoding.name()),
        })
    }
}
