//! Sending a code: the destination rules, the readings and the breaker's verdict, the
//! store's reservation within the limits, then the message, withdrawn when it fails.

use tracing::Instrument;

use super::{CodeSent, OtpService, SendRequest};
use crate::keyed_hash::CodeBinding;
use crate::otp::breaker::{Destination, Tallied};
use crate::otp::challenge::{
    Challenge, Issue, IssueOutcome, SendReadings, SendRefusal, VerifiedPhone, Withdrawal,
};
use crate::otp::delivery::{Delivery, Receipt};
use crate::otp::error::OtpError;
use crate::otp::limits::{self, Counter, SendScope};
use crate::otp::message::Message;
use crate::otp::ports::{ChallengeStore, Clock, MessageSender, RandomSource};
use crate::otp::time::{self, EpochSeconds};
use crate::phone::PhoneNumber;
use crate::telemetry::AUDIT;

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: MessageSender,
    C: Clock,
    R: RandomSource,
{
    /// Sends a fresh code to the phone, replacing the subject's pending one for it, unless
    /// the destination is refused or a send limit holds. Register and resend are both
    /// this: neither can skip the other's limits. A test number gets its fixed code and no
    /// SMS. Other subjects' codes for the phone are never touched.
    pub async fn send_code(&self, request: SendRequest<'_>) -> Result<CodeSent, OtpError> {
        let subject_key = self.key.pseudonym("subject", request.subject);
        let span = self.audit_span(request.phone, &subject_key);
        async {
            if let Some(refusal) = self.policy.destination_refusal(request.phone) {
                tracing::info!(target: AUDIT, event = "otp.refused", rule = refusal.rule());
                return Err(refusal.into());
            }
            let test_code = self.policy.test_code(request.phone);
            let code = match test_code {
                Some(fixed) => fixed.to_owned(),
                None => self.random.digits(self.policy.code_length),
            };
            let now = self.clock.now();
            let (challenge, auth_code) = self.new_challenge(&request, &subject_key, &code, now);
            let ip_key =
                request.client_ip.map(|ip| self.key.pseudonym("ip", &limits::subscriber(ip)));
            let scope = SendScope {
                phone_key: &challenge.phone_key,
                subject_key: &subject_key,
                ip_key: ip_key.as_deref(),
                region: request.phone.region(),
                test_number: test_code.is_some(),
            };
            let counters = limits::send_counters(&self.policy, &scope, now);
            // Test numbers cost nothing and convert by design: the breaker ignores them.
            let destinations = match test_code {
                None => self.watched_destinations(request.phone),
                Some(_) => Vec::new(),
            };
            let (challenge, verified) =
                self.reserve(challenge, &counters, &destinations, now).await?;
            let is_new_user = verified.is_none();
            let message = self.policy.message(&code, request.phone, request.locales);
            if test_code.is_some() {
                tracing::info!(
                    target: AUDIT,
                    event = "otp.sent",
                    is_new_user,
                    test_number = true,
                    locale = message.locale,
                );
            } else {
                let receipt = self
                    .deliver(request.phone, &challenge, &counters, &destinations, &message, now)
                    .await?;
                tracing::info!(
                    target: AUDIT,
                    event = "otp.sent",
                    is_new_user,
                    message_id = receipt.message_id,
                    locale = message.locale,
                    segments = receipt.segments,
                    encoding = receipt.encoding,
                );
            }
            Ok(CodeSent {
                auth_code,
                is_new_user,
                expires_in: challenge.expires_at.saturating_sub(now),
                resend_after: challenge.resend_after.saturating_sub(now),
            })
        }
        .instrument(span)
        .await
    }

    /// A challenge for `code` bound to the caller, and the `authCode` that goes with it.
    fn new_challenge(
        &self,
        request: &SendRequest<'_>,
        subject_key: &str,
        code: &str,
        now: EpochSeconds,
    ) -> (Challenge, String) {
        let auth_code = self.random.digits(self.policy.auth_code_length);
        let binding = CodeBinding {
            phone_e164: request.phone.e164(),
            subject: request.subject,
            auth_code: &auth_code,
        };
        let challenge = Challenge {
            id: self.random.identifier(),
            code_digest: self.key.code_digest(&binding, code),
            phone_key: self.phone_key(request.phone),
            subject_key: subject_key.to_owned(),
            expires_at: now + self.policy.code_ttl_seconds,
            resend_after: now + self.policy.resend_cooldown_seconds,
            attempts: 0,
            used: false,
            tallied: false,
        };
        (challenge, auth_code)
    }

    /// Stores `challenge` within the send limits. The phone's record and the breaker's
    /// readings are read first, in one request, and the breaker judges before anything is
    /// written: a send it refuses, or one whose reads fail, leaves the subject's pending
    /// code and every counter exactly as they were, and a campaign against a tripped
    /// destination costs reads only.
    ///
    /// The phone's verified owner passes the breaker, is not tallied (so that owners cannot
    /// lift a tripped destination's conversion), and is not held to the per-phone cap,
    /// which anyone can fill; the store checks ownership atomically with the write, so a
    /// read that was stale (the phone changed hands in between) refuses the send for a
    /// second. Returns the challenge as stored: `tallied` says whether the
    /// breaker counts it.
    async fn reserve(
        &self,
        challenge: Challenge,
        counters: &[Counter],
        destinations: &[Destination],
        now: EpochSeconds,
    ) -> Result<(Challenge, Option<VerifiedPhone>), OtpError> {
        let window = time::window(now);
        let SendReadings { verified, readings } =
            self.store.send_readings(&challenge.phone_key, destinations, &window).await?;
        let owner = verified.as_ref().and_then(|phone| phone.owner.as_deref());
        let as_verified_owner = owner == Some(challenge.subject_key.as_str());
        if !as_verified_owner
            && let Some((verdict, refusal)) = self.judge(destinations, readings, now)
        {
            self.record_trip(&verdict).await;
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
        }
        let challenge =
            Challenge { tallied: !as_verified_owner && !destinations.is_empty(), ..challenge };
        let issue = Issue { challenge: &challenge, counters, now, as_verified_owner };
        match self.store.issue(issue).await {
            Ok(IssueOutcome::Issued) => Ok((challenge, verified)),
            // A refusal with `not_owner`: the phone changed hands since the read, and the
            // answer is to retry in a second (`owner_changed`), judged afresh.
            Ok(IssueOutcome::Refused(refusal)) => Err(self.rate_limited(&refusal, counters, now)),
            Err(error) => {
                self.withdraw(&challenge, counters).await;
                Err(error.into())
            }
        }
    }

    /// The answer to a refused send, logged as `otp.refused` when a send budget refused it
    /// (with the budget and its count) and as `otp.rate_limited` otherwise.
    fn rate_limited(
        &self,
        refusal: &SendRefusal,
        counters: &[Counter],
        now: EpochSeconds,
    ) -> OtpError {
        let retry_after_seconds = refusal.retry_at.saturating_sub(now).max(1);
        let full: Vec<&str> = refusal.full.iter().map(|full| full.kind.rule()).collect();
        if let Some(budget) = refusal.full.iter().find(|full| full.kind.is_budget()) {
            tracing::info!(
                target: AUDIT,
                event = "otp.refused",
                rule = budget.kind.rule(),
                limit = counters.iter().find(|c| c.kind == budget.kind).map(|c| c.limit),
                count = budget.count,
                retry_after_seconds,
                full = ?full,
            );
            return OtpError::RateLimited { retry_after_seconds };
        }
        let rule = match (refusal.cooldown, full.first()) {
            (true, _) => "cooldown",
            (false, Some(first)) => first,
            (false, None) => "owner_changed",
        };
        tracing::info!(
            target: AUDIT,
            event = "otp.rate_limited",
            rule,
            retry_after_seconds,
            cooldown = refusal.cooldown,
            full = ?full,
        );
        OtpError::RateLimited { retry_after_seconds }
    }

    /// Withdraws a challenge whose request failed, refunding `refund`; a failure to do so
    /// is logged, and errs towards counting.
    async fn withdraw(&self, challenge: &Challenge, refund: &[Counter]) {
        let withdrawal = Withdrawal { challenge, refund };
        if let Err(error) = self.store.withdraw(withdrawal).await {
            tracing::error!(target: AUDIT, event = "otp.withdraw_failed", error = %error);
        }
    }

    /// Sends the code's message, tallying the send for the breaker at the same time when the
    /// breaker judged it. When the SMS fails, the challenge is withdrawn (the subject's
    /// earlier code is put back as it was), so that neither the code nor its cooldown
    /// outlives it; its counters are refunded and its tally taken back too unless the
    /// message may still arrive.
    async fn deliver(
        &self,
        phone: &PhoneNumber,
        challenge: &Challenge,
        counters: &[Counter],
        destinations: &[Destination],
        message: &Message,
        now: EpochSeconds,
    ) -> Result<Receipt, OtpError> {
        // Only the sends the breaker judged are tallied: an owner's would lift the
        // conversion of a destination the breaker is holding.
        let tallied_here = if challenge.tallied { destinations } else { &[] };
        let (sent, tallied) = tokio::join!(
            self.sender.send(phone, message),
            self.tally(tallied_here, Tallied::Sent, now)
        );
        let error = match sent {
            Ok(receipt) => return Ok(receipt),
            Err(error) => error,
        };
        tracing::error!(
            target: AUDIT,
            event = "otp.sms_failed",
            delivery = ?error.delivery,
            reason = %error.reason,
        );
        if error.delivery == Delivery::NotSent {
            let untallied = async {
                if tallied {
                    self.tally(tallied_here, Tallied::Unsent, now).await;
                }
            };
            tokio::join!(self.withdraw(challenge, counters), untallied);
        } else {
            self.withdraw(challenge, &[]).await;
        }
        Err(OtpError::SmsUnavailable(error))
    }
}
