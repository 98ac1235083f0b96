//! What the service asks of the conversion breaker: which destinations it watches, its
//! verdict on a send, and recording trips and tallies, none of which fails a request.

use super::OtpService;
use crate::otp::breaker::{self, BreakerMode, Destination, Reading, Tallied, Verdict};
use crate::otp::error::OtpError;
use crate::otp::ports::{ChallengeStore, Clock, MessageSender, RandomSource};
use crate::otp::time::EpochSeconds;
use crate::phone::PhoneNumber;
use crate::telemetry::AUDIT;

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// The destinations the breaker watches for `phone`: none when it is off.
    pub(super) fn watched_destinations(&self, phone: &PhoneNumber) -> Vec<Destination> {
        match self.policy.breaker.mode {
            BreakerMode::Off => Vec::new(),
            BreakerMode::Enforce | BreakerMode::Monitor => {
                breaker::destinations(&self.policy.breaker, phone)
            }
        }
    }

    /// The breaker's decision on a send to `destinations`, from their `readings`: `None`
    /// lets it through. A destination that converts too little is tripped; in enforce mode
    /// the decision carries the refusal (and this instance remembers the trip), in monitor
    /// mode it is only logged (`otp.would_refuse`).
    pub(super) fn judge(
        &self,
        destinations: &[Destination],
        readings: Vec<Reading>,
        now: EpochSeconds,
    ) -> Option<(Verdict, Option<OtpError>)> {
        let settings = &self.policy.breaker;
        let verdict = destinations
            .iter()
            .zip(readings)
            .find_map(|(destination, reading)| settings.verdict(destination, reading, now))?;
        let enforced = settings.mode == BreakerMode::Enforce;
        let retry_after_seconds = verdict.until.saturating_sub(now).max(1);
        tracing::info!(
            target: AUDIT,
            event = if enforced { "otp.refused" } else { "otp.would_refuse" },
            would_refuse = !enforced,
            rule = verdict.destination.scope.rule(),
            destination = verdict.destination.value,
            sent = verdict.tally.sent,
            verified = verdict.tally.verified,
            conversion = %verdict.conversion,
            min_sends = settings.min_sends_of(verdict.destination.scope),
            min_conversion = %settings.min_conversion,
            tripped_now = verdict.trips_now,
            retry_after_seconds,
        );
        let refusal = enforced.then_some(OtpError::DestinationThrottled { retry_after_seconds });
        Some((verdict, refusal))
    }

    /// Records a trip the breaker has just decided; a failure is logged, and the next send
    /// decides again from the same tallies.
    pub(super) async fn record_trip(&self, verdict: &Verdict) {
        if verdict.trips_now
            && let Err(error) = self.store.trip(&verdict.destination, verdict.until).await
        {
            tracing::warn!(error = %error, "the breaker's trip could not be recorded");
        }
    }

    /// Adds `event` to the destinations' tallies, and says whether it did; a failure is
    /// logged and lets the request succeed, since the SMS went out (or the code verified)
    /// regardless.
    pub(super) async fn tally(
        &self,
        destinations: &[Destination],
        event: Tallied,
        now: EpochSeconds,
    ) -> bool {
        if destinations.is_empty() {
            return false;
        }
        match self.store.tally(destinations, event, now).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(error = %error, ?event, "the breaker's tally could not be updated");
                false
            }
        }
    }
}
