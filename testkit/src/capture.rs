//! An in-memory writer for the tests that read what a tracing subscriber wrote, and the
//! safe way to install that subscriber for one test.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything written to it (or to its clones), kept in memory.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// What has been written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber installed for the current thread, until dropped.
pub struct ScopedSubscriber {
    _default: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

/// Installs `subscriber` for this thread only (`#[tokio::test]` polls everything there),
/// so that tests of one binary can each read their own lines.
///
/// While a single dispatcher is registered, tracing-core 0.1.36 decides a callsite's
/// interest from the default of whichever thread reaches it first (tokio-rs/tracing#3611):
/// a sibling test's thread without a subscriber would switch the callsite off for this
/// one too. A second dispatcher, kept registered as long as this guard, takes the general
/// path, which asks every registered dispatcher.
pub fn scoped_subscriber(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) -> ScopedSubscriber {
    let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let default = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    ScopedSubscriber { _default: default, _second: second }
}
