//! Adapters of [`ChallengeStore`](crate::otp::ports::ChallengeStore).

#[cfg(feature = "aws")]
pub mod dynamodb;
mod memory;

#[cfg(feature = "aws")]
pub use dynamodb::DynamoStore;
pub use memory::MemoryStore;
