//! An [`SmsSender`] that publishes straight to a phone number with Amazon SNS.

use aws_sdk_sns::Client;
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
        .map_err(|error| SmsError(error.into()))
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
        publish.send().await.map_err(|error| SmsError(error.into()))?;
        Ok(())
    }
}
