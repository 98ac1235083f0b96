//! Adapters of [`ChallengeStore`](crate::otp::ports::ChallengeStore).

mod memory;

pub use memory::MemoryStore;
