//! Checking a code: one attempt counted against the challenge, and a wrong one against the
//! subject's failures; a right one verifies once and may mint a verification token.

use tracing::Instrument;

use super::{OtpService, Verified, VerifyRequest};
use crate::keyed_hash::CodeBinding;
use crate::otp::challenge::{Check, CheckOutcome, StoreError};
use crate::otp::error::OtpError;
use crate::otp::limits::{self, CounterKind};
use crate::otp::ports::{ChallengeStore, Clock, MessageSender, RandomSource};
use crate::telemetry::AUDIT;
use crate::verification_token::Verification;

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// Checks a code against the subject's pending challenge for the phone. Every check
    /// counts against the attempt budget, and every wrong one against the subject's daily
    /// failure budget; the right code verifies once and makes the subject the phone's
    /// verified owner (test numbers excepted).
    pub async fn verify_code(&self, request: VerifyRequest<'_>) -> Result<Verified, OtpError> {
        let subject_key = self.key.pseudonym("subject", request.subject);
        let span = self.audit_span(request.phone, &subject_key);
        async {
            let now = self.clock.now();
            let phone_key = self.phone_key(request.phone);
            let binding = CodeBinding {
                phone_e164: request.phone.e164(),
                subject: request.subject,
                auth_code: request.auth_code,
            };
            let code_digest = self.key.code_digest(&binding, request.code);
            let attempt_id = self.random.identifier();
            let failures = limits::failure_counter(&self.policy, &subject_key, now);
            let is_test_number = self.policy.test_code(request.phone).is_some();
            // Test numbers convert by design: the breaker does not count them.
            let destinations = match is_test_number {
                false => self.watched_destinations(request.phone),
                true => Vec::new(),
            };
            let check = Check {
                phone_key: &phone_key,
                subject_key: &subject_key,
                code_digest: &code_digest,
                now,
                max_attempts: self.policy.max_attempts,
                attempt_id: &attempt_id,
                record_owner: !is_test_number,
                failures: failures.as_ref(),
                tally: &destinations,
            };
            match self.store.check(check).await? {
                CheckOutcome::Verified { reassigned } => {
                    if reassigned {
                        tracing::info!(target: AUDIT, event = "otp.reassigned");
                    }
                    tracing::info!(target: AUDIT, event = "otp.verified", test_number = is_test_number);
                    let verification = Verification {
                        subject: request.subject,
                        phone_e164: request.phone.e164(),
                        reassigned,
                        test_number: is_test_number,
                        now,
                        token_id: &self.random.identifier(),
                    };
                    let token = match &self.tokens {
                        None => None,
                        Some(tokens) => Some(tokens.mint(verification).ok_or_else(|| {
                            let unsigned = "the verification token could not be signed";
                            OtpError::Store(StoreError::new(unsigned))
                        })?),
                    };
                    Ok(Verified { token })
                }
                CheckOutcome::WrongCode { attempts_left } => {
                    let event = if attempts_left == 0 { "otp.locked" } else { "otp.failed" };
                    tracing::info!(target: AUDIT, event, reason = "wrong code", attempts_left);
                    Err(OtpError::WrongCode { attempts_left })
                }
                CheckOutcome::Refused(refusal) => {
                    tracing::info!(target: AUDIT, event = "otp.failed", reason = ?refusal);
                    Err(refusal.into())
                }
                CheckOutcome::TooManyFailures { retry_at } => {
                    let retry_after_seconds = retry_at.saturating_sub(now).max(1);
                    tracing::info!(
                        target: AUDIT,
                        event = "otp.rate_limited",
                        rule = CounterKind::Failures.rule(),
                        retry_after_seconds,
                    );
                    Err(OtpError::TooManyFailures { retry_after_seconds })
                }
            }
        }
        .instrument(span)
        .await
    }
}
