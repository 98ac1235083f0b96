//! The OTP policy as plain Rust over the ports in [`ports`]: issuing codes within the send
//! limits, and verifying them once, within their lifetime and attempt budget.

pub mod breaker;
pub mod destinations;
pub mod message;
mod policy;
pub mod ports;

use std::net::IpAddr;

use tracing::Instrument;

use breaker::{BreakerMode, Destination, Reading, Tallied, Verdict};
use message::Sms;
use ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, Clock, Counter, CounterKind,
    Delivery, EpochSeconds, Issue, IssueOutcome, RandomSource, SendReadings, SendRefusal, SmsError,
    SmsReceipt, SmsSender, StoreError, VerifiedPhone, Withdrawal,
};

pub use policy::{DestinationRefusal, Policy};

use crate::phone::PhoneNumber;
use crate::secret::{CodeBinding, HashKey};
use crate::telemetry::AUDIT;
use crate::verification_token::{Verification, VerificationTokens};

/// Length of the fixed windows the hourly send limits count in.
const HOUR: u64 = 3600;

/// Length of the fixed windows the daily limits count in.
const DAY: u64 = 86_400;

/// An expected refusal, or an unexpected failure of a dependency. Its `Display` is the
/// message the client reads; details of a failure stay in its source, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// A send limit or the resend cooldown holds until `retry_after_seconds` have passed.
    #[error("Too many codes requested; retry in {retry_after_seconds} seconds")]
    RateLimited {
        /// Seconds until a send may succeed.
        retry_after_seconds: u64,
    },
    /// Codes are not sent to this phone's country (`OTP_ALLOWED_COUNTRIES`,
    /// `OTP_DENIED_COUNTRIES`).
    #[error("Codes are not sent to this country")]
    CountryNotAllowed,
    /// Codes are not sent to numbers with this prefix (`OTP_DENIED_PREFIXES`).
    #[error("Codes are not sent to this number")]
    DestinationNotAllowed,
    /// Too few codes sent to this number's prefix or country were verified lately: new
    /// sends to it are refused until `retry_after_seconds` have passed (the breaker).
    #[error("Codes to this destination are paused; retry in {retry_after_seconds} seconds")]
    DestinationThrottled {
        /// Seconds until the pause ends.
        retry_after_seconds: u64,
    },
    /// Codes are not sent to this kind of line (`OTP_BLOCKED_NUMBER_TYPES`).
    #[error("Codes are only sent to numbers that can receive SMS, such as mobiles")]
    UnsupportedNumberType,
    /// The subject has no pending code for the phone.
    #[error("No code is pending for this phone number; request a new one")]
    NoPendingCode,
    /// The subject submitted too many wrong codes today
    /// (`OTP_MAX_FAILED_VERIFICATIONS_PER_SUBJECT_PER_DAY`).
    #[error("Too many wrong codes; retry in {retry_after_seconds} seconds")]
    TooManyFailures {
        /// Seconds until the subject's failure window ends.
        retry_after_seconds: u64,
    },
    /// The code or auth code does not match the subject's pending challenge.
    #[error("The otp or authCode is not valid")]
    WrongCode {
        /// Checks the challenge allows after this one; 0 when a new code is needed.
        attempts_left: u32,
    },
    /// The code is past its expiry.
    #[error("The code has expired; request a new one")]
    Expired,
    /// The code has verified already.
    #[error("The code has already been used; request a new one")]
    AlreadyUsed,
    /// The challenge has used up its attempts.
    #[error("Too many wrong attempts; request a new code")]
    TooManyAttempts,
    /// The SMS provider refused or failed; nothing usable was left behind.
    #[error("The SMS could not be sent; try again shortly")]
    SmsUnavailable(#[source] SmsError),
    /// The store failed or did not answer in time.
    #[error("The service is unavailable; try again shortly")]
    Store(#[from] StoreError),
}

impl From<DestinationRefusal> for OtpError {
    fn from(refusal: DestinationRefusal) -> Self {
        match refusal {
            DestinationRefusal::CountryNotAllowed | DestinationRefusal::CountryDenied => {
                Self::CountryNotAllowed
            }
            DestinationRefusal::PrefixDenied => Self::DestinationNotAllowed,
            DestinationRefusal::UnsupportedNumberType => Self::UnsupportedNumberType,
        }
    }
}

impl From<AttemptRefusal> for OtpError {
    fn from(refusal: AttemptRefusal) -> Self {
        match refusal {
            AttemptRefusal::NoChallenge => Self::NoPendingCode,
            AttemptRefusal::Used => Self::AlreadyUsed,
            AttemptRefusal::Expired => Self::Expired,
            AttemptRefusal::Locked => Self::TooManyAttempts,
        }
    }
}

/// Who asks for a code, for which phone, from where.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    /// The JWT subject the code will be bound to.
    pub subject: &'a str,
    /// The phone the code goes to.
    pub phone: &'a PhoneNumber,
    /// The caller's address, for the per-IP limit; `None` skips that limit.
    pub client_ip: Option<IpAddr>,
    /// The languages the caller asked for, best first (its `locale`, then
    /// `Accept-Language`).
    pub locales: &'a [String],
}

/// A code on its way: what the client gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    /// The handle the client must present with the code.
    pub auth_code: String,
    /// Whether the phone has never been verified.
    pub is_new_user: bool,
    /// Seconds the code verifies for.
    pub expires_in: u64,
    /// Seconds until the subject may be sent another code for this phone.
    pub resend_after: u64,
}

/// A code to check. Digits are already normalised to the configured lengths.
#[derive(Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The JWT subject checking the code.
    pub subject: &'a str,
    /// The phone the code was sent to.
    pub phone: &'a PhoneNumber,
    /// The `authCode` the subject was given.
    pub auth_code: &'a str,
    /// The code from the SMS.
    pub code: &'a str,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed verification token, when a signing key is configured.
    pub token: Option<String>,
}

/// Issues and verifies one-time codes sent by SMS.
pub struct OtpService<S, M, C, R> {
    store: S,
    sms: M,
    clock: C,
    random: R,
    policy: Policy,
    key: HashKey,
    tokens: Option<VerificationTokens>,
}

impl<S, M, C, R> OtpService<S, M, C, R>
where
    S: ChallengeStore,
    M: SmsSender,
    C: Clock,
    R: RandomSource,
{
    /// The service; warns once when test numbers are configured, since they bypass SMS, and
    /// when codes may go to every country, which SMS pumping feeds on.
    pub fn new(store: S, sms: M, clock: C, random: R, policy: Policy, key: HashKey) -> Self {
        if policy.allowed_countries.is_none() {
            tracing::warn!(
                "OTP_ALLOWED_COUNTRIES allows every country: list the countries your users are in"
            );
        }
        if !policy.test_numbers.is_empty() {
            tracing::warn!(
                test_numbers = policy.test_numbers.len(),
                "OTP_TEST_NUMBERS is set: those numbers verify with fixed codes and get no SMS"
            );
        }
        Self { store, sms, clock, random, policy, key, tokens: None }
    }

    /// The same service, answering each successful verification with a token from `tokens`.
    pub fn with_verification_tokens(self, tokens: Option<VerificationTokens>) -> Self {
        Self { tokens, ..self }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The verification token signer, when one is configured.
    pub fn verification_tokens(&self) -> Option<&VerificationTokens> {
        self.tokens.as_ref()
    }

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
            let counters = self.send_counters(&request, &challenge, test_code.is_some(), now);
            // Test numbers cost nothing and convert by design: the breaker ignores them.
            let destinations = match test_code {
                None => self.watched_destinations(request.phone),
                Some(_) => Vec::new(),
            };
            let (challenge, verified) =
                self.reserve(challenge, &counters, &destinations, now).await?;
            let is_new_user = verified.is_none();
            let sms = self.policy.message(&code, request.phone, request.locales);
            if test_code.is_some() {
                tracing::info!(
                    target: AUDIT,
                    event = "otp.sent",
                    is_new_user,
                    test_number = true,
                    locale = sms.locale,
                );
            } else {
                let receipt = self
                    .deliver(request.phone, &challenge, &counters, &destinations, &sms, now)
                    .await?;
                tracing::info!(
                    target: AUDIT,
                    event = "otp.sent",
                    is_new_user,
                    message_id = receipt.message_id,
                    locale = sms.locale,
                    segments = sms.segments,
                    encoding = sms.encoding.name(),
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

    /// The destinations the breaker watches for `phone`: none when it is off.
    fn watched_destinations(&self, phone: &PhoneNumber) -> Vec<Destination> {
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
    fn judge(
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
    async fn record_trip(&self, verdict: &Verdict) {
        if verdict.trips_now
            && let Err(error) = self.store.trip(&verdict.destination, verdict.until).await
        {
            tracing::warn!(error = %error, "the breaker's trip could not be recorded");
        }
    }

    /// Adds `event` to the destinations' tallies, and says whether it did; a failure is
    /// logged and lets the request succeed, since the SMS went out (or the code verified)
    /// regardless.
    async fn tally(&self, destinations: &[Destination], event: Tallied, now: EpochSeconds) -> bool {
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
        let window = breaker::window(now);
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
                self.take_back(&challenge, counters).await;
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
    async fn take_back(&self, challenge: &Challenge, refund: &[Counter]) {
        let withdrawal = Withdrawal { challenge, refund };
        if let Err(error) = self.store.withdraw(withdrawal).await {
            tracing::error!(target: AUDIT, event = "otp.withdraw_failed", error = %error);
        }
    }

    /// Sends the code by SMS, tallying the send for the breaker at the same time when the
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
        sms: &Sms,
        now: EpochSeconds,
    ) -> Result<SmsReceipt, OtpError> {
        // Only the sends the breaker judged are tallied: an owner's would lift the
        // conversion of a destination the breaker is holding.
        let tallied_here = if challenge.tallied { destinations } else { &[] };
        let (sent, tallied) =
            tokio::join!(self.sms.send(phone, sms), self.tally(tallied_here, Tallied::Sent, now));
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
            tokio::join!(self.take_back(challenge, counters), untallied);
        } else {
            self.take_back(challenge, &[]).await;
        }
        Err(OtpError::SmsUnavailable(error))
    }

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
            let failures = self.failure_counter(&subject_key, now);
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

    /// The span every lifecycle event of one request is logged in: the masked phone, its
    /// country and the first 16 hex digits of the subject's pseudonym, never the code.
    fn audit_span(&self, phone: &PhoneNumber, subject_key: &str) -> tracing::Span {
        let subject = &subject_key[..16];
        tracing::info_span!(target: AUDIT, "otp", phone = %phone, country = phone.region(), subject)
    }

    fn phone_key(&self, phone: &PhoneNumber) -> String {
        self.key.pseudonym("phone", phone.e164())
    }

    /// The counters a send must fit in: the hourly caps per phone, subject and address,
    /// and (unless it goes to a test number, which costs nothing) the send budgets, global
    /// and of the phone's country. Disabled limits (0) have none.
    fn send_counters(
        &self,
        request: &SendRequest<'_>,
        challenge: &Challenge,
        test_number: bool,
        now: EpochSeconds,
    ) -> Vec<Counter> {
        let ip_key = request.client_ip.map(|ip| self.key.pseudonym("ip", &subscriber(ip)));
        let policy = &self.policy;
        let region = request.phone.region().filter(|_| !test_number);
        let global = (!test_number).then(|| "all".to_owned());
        let budgets = [
            (CounterKind::BudgetHour, global.clone(), policy.max_sends_per_hour, HOUR),
            (CounterKind::BudgetDay, global, policy.max_sends_per_day, DAY),
            (
                CounterKind::CountryHour,
                region.map(str::to_owned),
                region.map_or(0, |r| policy.max_sends_per_country_per_hour.for_region(r)),
                HOUR,
            ),
            (
                CounterKind::CountryDay,
                region.map(str::to_owned),
                region.map_or(0, |r| policy.max_sends_per_country_per_day.for_region(r)),
                DAY,
            ),
        ];
        let caps = [
            (
                CounterKind::Phone,
                Some(challenge.phone_key.clone()),
                self.policy.max_sends_per_phone_per_hour,
            ),
            (
                CounterKind::Subject,
                Some(challenge.subject_key.clone()),
                self.policy.max_sends_per_subject_per_hour,
            ),
            (CounterKind::Ip, ip_key, self.policy.max_sends_per_ip_per_hour),
        ]
        .map(|(kind, key, limit)| (kind, key, limit, HOUR));
        caps.into_iter()
            .chain(budgets)
            .filter_map(|(kind, key, limit, window)| counter(kind, &key?, limit, now, window))
            .collect()
    }

    /// The subject's counter of wrong codes today, unless that limit is off.
    fn failure_counter(&self, subject_key: &str, now: EpochSeconds) -> Option<Counter> {
        let limit = self.policy.max_failed_verifications_per_subject_per_day;
        counter(CounterKind::Failures, subject_key, limit, now, DAY)
    }
}

/// What the per-IP limit counts: an IPv4 address, or an IPv6 address's /64, which one
/// subscriber usually holds whole.
fn subscriber(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// The counter of `kind` for `key` in the fixed window of `window` seconds around `now`;
/// `None` when `limit` is 0 (off).
fn counter(
    kind: CounterKind,
    key: &str,
    limit: u32,
    now: EpochSeconds,
    window: u64,
) -> Option<Counter> {
    let window_start = now - now % window;
    (limit > 0).then(|| Counter {
        kind,
        key: format!("{}#{key}#{window_start}", kind.name()),
        limit,
        resets_at: window_start + window,
    })
}

#[cfg(test)]
mod tests;
