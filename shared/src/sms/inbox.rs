//! An [`SmsSender`] that keeps messages instead of sending them: the local server's inbox.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::otp::ports::{SmsError, SmsSender};
use crate::phone::PhoneNumber;

/// A message as the inbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    /// Recipient in E.164 form.
    pub to: String,
    /// The text, code included.
    pub body: String,
}

/// Every message "sent", oldest first. Holds codes in clear: for local use and tests only.
/// Clones share the messages.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<SentSms>>>,
    echo: bool,
}

impl Inbox {
    /// An inbox that only stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// An inbox that also prints each message to stdout as it arrives.
    pub fn echoing() -> Self {
        Self { echo: true, ..Self::default() }
    }

    /// The messages so far, oldest first.
    pub fn messages(&self) -> Vec<SentSms> {
        self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl SmsSender for Inbox {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        let sms = SentSms { to: to.e164().to_owned(), body: body.to_owned() };
        if self.echo {
            // A closed stdout must not fail the send: the inbox still has the message.
            let _ = writeln!(std::io::stdout(), "SMS to {}: {}", sms.to, sms.body);
        }
        self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(sms);
        Ok(())
    }
}
