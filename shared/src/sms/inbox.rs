//! An [`MessageSender`] that keeps messages instead of sending them: the local server's inbox.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::otp::message::Message;
use crate::otp::ports::{MessageSender, Receipt, SendError};
use crate::phone::PhoneNumber;
use crate::sms::segments::measure;

/// A message as the inbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    /// Recipient in E.164 form.
    pub to: String,
    /// The exact text, code and autofill lines included.
    pub body: String,
    /// The locale of its template.
    pub locale: String,
    /// The segments it would take.
    pub segments: usize,
    /// When it was "sent", in milliseconds since the Unix epoch.
    pub sent_at: u64,
}

/// The messages "sent", oldest first, the latest [`INBOX_CAPACITY`] of them. Holds codes in
/// clear: for local use and tests only. Clones share the messages.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<SentSms>>>,
    sent: Arc<AtomicU64>,
    echo: bool,
}

/// How many messages an inbox keeps; older ones are dropped first.
pub const INBOX_CAPACITY: usize = 1000;

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

    /// Forgets every message.
    pub fn clear(&self) {
        self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

impl MessageSender for Inbox {
    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<Receipt, SendError> {
        let (encoding, _, segments) = measure(&message.text);
        let sent = SentSms {
            to: to.e164().to_owned(),
            body: message.text.clone(),
            locale: message.locale.clone(),
            segments,
            sent_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        if self.echo {
            // A closed stdout must not fail the send: the inbox still has the message.
            let _ =
                writeln!(std::io::stdout(), "SMS to {} ({}): {}", sent.to, sent.locale, sent.body);
        }
        let mut messages = self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if messages.len() == INBOX_CAPACITY {
            messages.remove(0);
        }
        messages.push(sent);
        let sent_so_far = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Receipt {
            message_id: Some(format!("local-{sent_so_far}")),
            segments: Some(segments),
            encoding: Some(encoding.name()),
        })
    }
}
