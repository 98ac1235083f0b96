//! The OTP policy, rule by rule, over the in-memory store with a fixed clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::otp::ports::RandomSource;
use crate::phone::PhoneNumber;
use crate::sms::Inbox;
use crate::store::MemoryStore;
use crate::system::OsRandom;
use crate::testing::{BrokenSender, FixedRandom, ManualClock, START, service};

type Service<R> = OtpService<MemoryStore, Inbox, ManualClock, R>;

struct Harness<R = OsRandom> {
    otp: Service<R>,
    inbox: Inbox,
    clock: ManualClock,
    phone: PhoneNumber,
}

fn harness(policy: Policy) -> Harness {
    harness_with(policy, OsRandom)
}

fn harness_with<R: RandomSource>(policy: Policy, random: R) -> Harness<R> {
    let (inbox, clock) = (Inbox::new(), ManualClock::new(START));
    let otp =
        service().sender(inbox.clone()).clock(clock.clone()).random(random).policy(policy).build();
    Harness { otp, inbox, clock, phone: PhoneNumber::parse("9876543219", "+91").unwrap() }
}

impl<R: RandomSource> Harness<R> {
    async fn send(&self, subject: &str) -> Result<CodeSent, OtpError> {
        self.send_from(subject, &self.phone, None).await
    }

    async fn send_from(
        &self,
        subject: &str,
        phone: &PhoneNumber,
        client_ip: Option<IpAddr>,
    ) -> Result<CodeSent, OtpError> {
        self.otp.send_code(SendRequest { subject, phone, client_ip, locales: &[] }).await
    }

    async fn verify(
        &self,
        subject: &str,
        auth_code: &str,
        code: &str,
    ) -> Result<Verified, OtpError> {
        let request = VerifyRequest { subject, phone: &self.phone, auth_code, code };
        self.otp.verify_code(request).await
    }

    /// The code in the newest SMS.
    fn last_code(&self) -> String {
        let messages = self.inbox.messages();
        let body = &messages.last().expect("an SMS was sent").body;
        let len = self.otp.policy().code_length;
        body.split(|c: char| !c.is_ascii_digit())
            .find(|word| word.len() == len)
            .expect("the SMS holds a code")
            .to_owned()
    }
}

/// A code that differs from `code` in its last digit.
fn wrong(code: &str) -> String {
    let last = code.as_bytes()[code.len() - 1];
    format!("{}{}", &code[..code.len() - 1], char::from(b'0' + (last - b'0' + 1) % 10))
}

#[tokio::test]
async fn sent_code_verifies_once_and_marks_the_phone_verified() {
    let h = harness(Policy::without_send_limits());
    let sent = h.send("alice").await.unwrap();
    assert!(sent.is_new_user);
    assert_eq!(sent.auth_code.len(), 4);
    let policy = h.otp.policy();
    assert_eq!(sent.expires_in, policy.code_ttl_seconds, "from the stored challenge");
    assert_eq!(sent.resend_after, policy.resend_cooldown_seconds);
    let messages = h.inbox.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, "+919876543219");
    let code = h.last_code();
    assert_eq!(
        messages[0].body,
        format!("{code} is your verification code. It expires in 5 minutes. Do not share it.")
    );

    h.verify("alice", &sent.auth_code, &code).await.unwrap();
    assert!(matches!(h.verify("alice", &sent.auth_code, &code).await, Err(OtpError::AlreadyUsed)));
    assert!(!h.send("alice").await.unwrap().is_new_user);
}

#[tokio::test]
async fn codes_and_auth_codes_come_from_the_random_source() {
    let random = FixedRandom::new(&["012345", "0042"]);
    let h = harness_with(Policy::without_send_limits(), random);
    let sent = h.send("alice").await.unwrap();
    assert_eq!(sent.auth_code, "0042");
    assert_eq!(h.last_code(), "012345");
    h.verify("alice", "0042", "012345").await.unwrap();
}

#[tokio::test]
async fn configured_lengths_shape_the_codes() {
    let h =
        harness(Policy { code_length: 10, auth_code_length: 8, ..Policy::without_send_limits() });
    let sent = h.send("alice").await.unwrap();
    assert_eq!(sent.auth_code.len(), 8);
    assert_eq!(h.last_code().len(), 10);
}

#[tokio::test]
async fn verifying_without_a_code_sent_finds_nothing() {
    let h = harness(Policy::without_send_limits());
    assert!(matches!(h.verify("alice", "1234", "123456").await, Err(OtpError::NoPendingCode)));
}

#[tokio::test]
async fn code_is_bound_to_subject_and_auth_code() {
    let h = harness(Policy::without_send_limits());
    let sent = h.send("alice").await.unwrap();
    let code = h.last_code();
    let other_auth = wrong(&sent.auth_code);
    let mallory = h.verify("mallory", &sent.auth_code, &code).await;
    assert!(matches!(mallory, Err(OtpError::NoPendingCode)), "mallory has no code of its own");
    assert!(matches!(h.verify("alice", &other_auth, &code).await, Err(OtpError::WrongCode { .. })));
    h.verify("alice", &sent.auth_code, &code).await.unwrap();
}

#[tokio::test]
async fn code_expires_after_its_ttl() {
    let h = harness(Policy { code_ttl_seconds: 300, ..Policy::without_send_limits() });
    let sent = h.send("alice").await.unwrap();
    let code = h.last_code();
    h.clock.advance(299);
    let almost = wrong(&code);
    assert!(matches!(
        h.verify("alice", &sent.auth_code, &almost).await,
        Err(OtpError::WrongCode { .. })
    ));
    h.clock.advance(1);
    assert!(matches!(h.verify("alice", &sent.auth_code, &code).await, Err(OtpError::Expired)));
}

#[tokio::test]
async fn challenge_dies_after_max_attempts_even_for_the_right_code() {
    let h = harness(Policy { max_attempts: 5, ..Policy::without_send_limits() });
    let sent = h.send("alice").await.unwrap();
    let code = h.last_code();
    for left in (0..5).rev() {
        let result = h.verify("alice", &sent.auth_code, &wrong(&code)).await;
        assert!(
            matches!(result, Err(OtpError::WrongCode { attempts_left }) if attempts_left == left)
        );
    }
    let result = h.verify("alice", &sent.auth_code, &code).await;
    assert!(matches!(result, Err(OtpError::TooManyAttempts)));
}

#[tokio::test]
async fn right_code_on_the_last_attempt_verifies() {
    let h = harness(Policy { max_attempts: 3, ..Policy::without_send_limits() });
    let sent = h.send("alice").await.unwrap();
    let code = h.last_code();
    for _ in 0..2 {
        assert!(h.verify("alice", &sent.auth_code, &wrong(&code)).await.is_err());
    }
    h.verify("alice", &sent.auth_code, &code).await.unwrap();
}

#[tokio::test]
async fn parallel_wrong_guesses_get_no_more_than_the_attempt_budget() {
    let h = Arc::new(harness(Policy { max_attempts: 5, ..Policy::without_send_limits() }));
    let sent = h.send("alice").await.unwrap();
    let guess = wrong(&h.last_code());
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (h, auth_code, guess) = (h.clone(), sent.auth_code.clone(), guess.clone());
            tokio::spawn(async move { h.verify("alice", &auth_code, &guess).await })
        })
        .collect();
    let (mut evaluated, mut locked) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Err(OtpError::WrongCode { .. }) => evaluated += 1,
            Err(OtpError::TooManyAttempts) => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((evaluated, locked), (5, 35));
}

#[tokio::test]
async fn resend_replaces_the_code_and_auth_code() {
    let h = harness(Policy::without_send_limits());
    let first = h.send("alice").await.unwrap();
    let first_code = h.last_code();
    let second = h.send("alice").await.unwrap();
    let second_code = h.last_code();
    assert_eq!(h.inbox.messages().len(), 2);
    let result = h.verify("alice", &first.auth_code, &first_code).await;
    assert!(matches!(result, Err(OtpError::WrongCode { .. })));
    h.verify("alice", &second.auth_code, &second_code).await.unwrap();
}

#[tokio::test]
async fn resend_waits_for_the_cooldown_and_sends_nothing_meanwhile() {
    let h = harness(Policy { resend_cooldown_seconds: 30, ..Policy::without_send_limits() });
    h.send("alice").await.unwrap();
    h.clock.advance(10);
    match h.send("alice").await {
        Err(OtpError::RateLimited { retry_after_seconds }) => assert_eq!(retry_after_seconds, 20),
        other => panic!("expected the cooldown, got {other:?}"),
    }
    assert_eq!(h.inbox.messages().len(), 1);
    h.clock.advance(20);
    h.send("alice").await.unwrap();
    assert_eq!(h.inbox.messages().len(), 2);
}

#[tokio::test]
async fn cooldown_is_per_phone() {
    let h = harness(Policy { resend_cooldown_seconds: 30, ..Policy::without_send_limits() });
    let other = PhoneNumber::parse("9876543210", "IN").unwrap();
    h.send("alice").await.unwrap();
    h.send_from("alice", &other, None).await.unwrap();
}

#[tokio::test]
async fn hourly_phone_limit_holds_until_the_window_ends() {
    let h = harness(Policy { max_sends_per_phone_per_hour: 5, ..Policy::without_send_limits() });
    h.clock.advance(600);
    for _ in 0..5 {
        h.send("alice").await.unwrap();
    }
    match h.send("bob").await {
        Err(OtpError::RateLimited { retry_after_seconds }) => {
            assert_eq!(retry_after_seconds, 3000);
        }
        other => panic!("expected the phone limit, got {other:?}"),
    }
    assert_eq!(h.inbox.messages().len(), 5);
    h.clock.advance(3000);
    h.send("alice").await.unwrap();
}

#[tokio::test]
async fn hourly_subject_limit_spans_phones() {
    let h = harness(Policy { max_sends_per_subject_per_hour: 2, ..Policy::without_send_limits() });
    let phones = ["9876543210", "9876543211", "9876543212"]
        .map(|number| PhoneNumber::parse(number, "IN").unwrap());
    h.send_from("alice", &phones[0], None).await.unwrap();
    h.send_from("alice", &phones[1], None).await.unwrap();
    let result = h.send_from("alice", &phones[2], None).await;
    assert!(matches!(result, Err(OtpError::RateLimited { .. })));
    h.send_from("bob", &phones[2], None).await.unwrap();
}

#[tokio::test]
async fn hourly_ip_limit_spans_subjects_and_phones() {
    let h = harness(Policy { max_sends_per_ip_per_hour: 2, ..Policy::without_send_limits() });
    let ip = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
    let other_ip = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 8)));
    let phones = ["9876543210", "9876543211", "9876543212"]
        .map(|number| PhoneNumber::parse(number, "IN").unwrap());
    h.send_from("alice", &phones[0], ip).await.unwrap();
    h.send_from("bob", &phones[1], ip).await.unwrap();
    let result = h.send_from("carol", &phones[2], ip).await;
    assert!(matches!(result, Err(OtpError::RateLimited { .. })));
    h.send_from("carol", &phones[2], other_ip).await.unwrap();
}

#[tokio::test]
async fn a_limit_of_zero_disables_it() {
    let h = harness(Policy::without_send_limits());
    for _ in 0..20 {
        h.send("alice").await.unwrap();
    }
    assert_eq!(h.inbox.messages().len(), 20);
}

#[tokio::test]
async fn refused_sends_do_not_count_against_the_hourly_limits() {
    let h = harness(Policy {
        resend_cooldown_seconds: 30,
        max_sends_per_phone_per_hour: 2,
        ..Policy::without_send_limits()
    });
    h.send("alice").await.unwrap();
    for _ in 0..5 {
        assert!(h.send("alice").await.is_err(), "within the cooldown");
    }
    h.clock.advance(30);
    h.send("alice").await.unwrap();
}

#[tokio::test]
async fn failed_sms_leaves_no_code_and_no_cooldown() {
    let (inbox, store) = (Inbox::new(), MemoryStore::new());
    let policy = Policy { resend_cooldown_seconds: 30, ..Policy::default() };
    let broken = service().store(store.clone()).sender(BrokenSender).policy(policy.clone()).build();
    let working = service().store(store).sender(inbox.clone()).policy(policy).build();
    let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
    let request = SendRequest { subject: "alice", phone: &phone, client_ip: None, locales: &[] };

    assert!(matches!(broken.send_code(request).await, Err(OtpError::SmsUnavailable(_))));
    let verify =
        VerifyRequest { subject: "alice", phone: &phone, auth_code: "1234", code: "123456" };
    assert!(matches!(working.verify_code(verify).await, Err(OtpError::NoPendingCode)));
    working.send_code(request).await.unwrap();
    assert_eq!(inbox.messages().len(), 1);
}

#[tokio::test]
async fn a_failed_resend_leaves_the_earlier_code_as_it_was() {
    let (inbox, store, clock) = (Inbox::new(), MemoryStore::new(), ManualClock::new(START));
    let policy = Policy { resend_cooldown_seconds: 30, ..Policy::default() };
    let build = || service().store(store.clone()).clock(clock.clone()).policy(policy.clone());
    let working = build().sender(inbox.clone()).build();
    let broken = build().sender(BrokenSender).build();
    let phone = PhoneNumber::parse("9876543219", "+91").unwrap();
    let request = SendRequest { subject: "alice", phone: &phone, client_ip: None, locales: &[] };

    let sent = working.send_code(request).await.unwrap();
    let body = inbox.messages()[0].body.clone();
    let code = body.split(|c: char| !c.is_ascii_digit()).find(|word| word.len() == 6).unwrap();
    clock.advance(30);
    assert!(matches!(broken.send_code(request).await, Err(OtpError::SmsUnavailable(_))));
    let verify =
        VerifyRequest { subject: "alice", phone: &phone, auth_code: &sent.auth_code, code };
    working.verify_code(verify).await.expect("the earlier code still verifies");
}

#[tokio::test]
async fn refused_destinations_get_no_sms_and_say_why() {
    let h = harness(Policy { allowed_countries: Some("IN".parse().unwrap()), ..Policy::default() });
    let british = PhoneNumber::parse("+447400123456", "").unwrap();
    let landline = PhoneNumber::parse("011 2345 6789", "IN").unwrap();
    let result = h.send_from("alice", &british, None).await;
    assert!(matches!(result, Err(OtpError::CountryNotAllowed)));
    let result = h.send_from("alice", &landline, None).await;
    assert!(matches!(result, Err(OtpError::UnsupportedNumberType)));
    assert!(h.inbox.messages().is_empty());
    h.send("alice").await.unwrap();
}

#[tokio::test]
async fn denied_countries_and_prefixes_get_no_sms() {
    let h = harness(Policy {
        denied_countries: "GB".parse().unwrap(),
        denied_prefixes: "+91700".parse().unwrap(),
        ..Policy::default()
    });
    let british = PhoneNumber::parse("+447400123456", "").unwrap();
    let pumped = PhoneNumber::parse("+917000012345", "").unwrap();
    let result = h.send_from("alice", &british, None).await;
    assert!(matches!(result, Err(OtpError::CountryNotAllowed)));
    let result = h.send_from("alice", &pumped, None).await;
    assert!(matches!(result, Err(OtpError::DestinationNotAllowed)));
    assert!(h.inbox.messages().is_empty());
    h.send("alice").await.unwrap();
}

#[tokio::test]
async fn budgets_count_every_caller_and_reset_with_their_window() {
    let h = harness(Policy {
        max_sends_per_hour: 2,
        max_sends_per_country_per_day: "IN=3".parse().unwrap(),
        test_numbers: "+919876500000=424242".parse().unwrap(),
        ..Policy::without_send_limits()
    });
    let phone = |n: u32| PhoneNumber::parse(&format!("+9198765{:05}", 10_000 + n), "").unwrap();
    let test_number = PhoneNumber::parse("+919876500000", "").unwrap();
    h.send_from("s1", &phone(1), None).await.unwrap();
    h.send_from("s2", &test_number, None).await.unwrap();
    h.send_from("s3", &phone(2), None).await.unwrap();
    let refused = h.send_from("s4", &phone(3), None).await;
    let Err(OtpError::RateLimited { retry_after_seconds }) = refused else {
        panic!("the hourly budget: {refused:?}")
    };
    assert_eq!(retry_after_seconds, 3600, "until the clock hour ends");
    assert_eq!(h.inbox.messages().len(), 2, "the test number cost nothing and counted nowhere");
    h.clock.advance(3600);
    h.send_from("s4", &phone(3), None).await.unwrap();
    let refused = h.send_from("s5", &phone(4), None).await;
    assert!(matches!(refused, Err(OtpError::RateLimited { .. })), "India's daily budget");
    let us = PhoneNumber::parse("+14155550100", "").unwrap();
    h.send_from("s5", &us, None).await.unwrap();
}

#[tokio::test]
async fn test_numbers_get_no_sms_but_every_other_rule() {
    let h = harness(Policy {
        test_numbers: "+919876543219=424242".parse().unwrap(),
        max_attempts: 2,
        allowed_countries: Some("US".parse().unwrap()),
        ..Policy::default()
    });
    let sent = h.send("alice").await.unwrap();
    assert!(h.inbox.messages().is_empty(), "no SMS for a test number");
    assert!(matches!(h.send("alice").await, Err(OtpError::RateLimited { .. })), "cooldown");
    let bob = h.verify("bob", &sent.auth_code, "424242").await;
    assert!(matches!(bob, Err(OtpError::NoPendingCode)), "codes are per subject");
    h.verify("alice", &sent.auth_code, "424242").await.unwrap();

    h.clock.advance(30);
    let sent = h.send("alice").await.unwrap();
    h.clock.advance(300);
    let result = h.verify("alice", &sent.auth_code, "424242").await;
    assert!(matches!(result, Err(OtpError::Expired)), "expiry");
}

#[tokio::test]
async fn test_numbers_never_become_verified() {
    let h = harness(Policy {
        test_numbers: "+919876543219=424242".parse().unwrap(),
        ..Policy::without_send_limits()
    });
    for _ in 0..2 {
        let sent = h.send("alice").await.unwrap();
        assert!(sent.is_new_user, "a test number never has a verified record");
        h.verify("alice", &sent.auth_code, "424242").await.unwrap();
    }
}

/// Two subjects and one phone: neither can see, spend or replace the other's code.
mod two_subjects {
    use super::*;

    #[tokio::test]
    async fn a_probe_on_another_subjects_phone_finds_nothing_and_spends_nothing() {
        let h = harness(Policy { max_attempts: 3, ..Policy::without_send_limits() });
        let before = h.verify("mallory", "0000", "000000").await;
        assert!(matches!(before, Err(OtpError::NoPendingCode)));
        let sent = h.send("victim").await.unwrap();
        for _ in 0..10 {
            let probe = h.verify("mallory", &sent.auth_code, "000000").await;
            assert!(matches!(probe, Err(OtpError::NoPendingCode)), "same answer as before");
        }
        h.verify("victim", &sent.auth_code, &h.last_code()).await.unwrap();
    }

    #[tokio::test]
    async fn another_subjects_send_leaves_the_pending_code_alone() {
        let h = harness(Policy { resend_cooldown_seconds: 30, ..Policy::without_send_limits() });
        let victim = h.send("victim").await.unwrap();
        let victim_code = h.last_code();
        h.clock.advance(31);
        let mallory = h.send("mallory").await.unwrap();
        let mallory_code = h.last_code();
        h.verify("victim", &victim.auth_code, &victim_code).await.unwrap();
        h.verify("mallory", &mallory.auth_code, &mallory_code).await.unwrap();
    }

    #[tokio::test]
    async fn the_cooldown_is_per_phone_and_subject() {
        let h = harness(Policy { resend_cooldown_seconds: 30, ..Policy::without_send_limits() });
        h.send("victim").await.unwrap();
        h.send("mallory").await.unwrap();
        assert!(matches!(h.send("victim").await, Err(OtpError::RateLimited { .. })));
        assert!(matches!(h.send("mallory").await, Err(OtpError::RateLimited { .. })));
    }

    #[tokio::test]
    async fn the_shared_phone_cap_never_refuses_the_verified_owner() {
        let h =
            harness(Policy { max_sends_per_phone_per_hour: 3, ..Policy::without_send_limits() });
        let sent = h.send("owner").await.unwrap();
        h.verify("owner", &sent.auth_code, &h.last_code()).await.unwrap();
        for _ in 0..2 {
            h.send("mallory").await.unwrap();
        }
        let full = h.send("mallory").await;
        assert!(
            matches!(full, Err(OtpError::RateLimited { .. })),
            "the phone cap holds for others"
        );
        for _ in 0..3 {
            assert!(!h.send("owner").await.unwrap().is_new_user, "the owner still gets codes");
        }
        assert_eq!(h.inbox.messages().len(), 6);
    }

    #[tokio::test]
    async fn verifying_a_phone_owned_by_another_subject_reassigns_it() {
        let h =
            harness(Policy { max_sends_per_phone_per_hour: 2, ..Policy::without_send_limits() });
        let first = h.send("old-owner").await.unwrap();
        h.verify("old-owner", &first.auth_code, &h.last_code()).await.unwrap();
        let second = h.send("new-owner").await.unwrap();
        assert!(!second.is_new_user);
        h.verify("new-owner", &second.auth_code, &h.last_code()).await.unwrap();
        // The cap (2) is full; only the new owner is exempt now.
        assert!(matches!(h.send("old-owner").await, Err(OtpError::RateLimited { .. })));
        h.send("new-owner").await.unwrap();
    }
}

#[tokio::test]
async fn wrong_codes_are_bounded_per_subject_per_day_across_challenges() {
    let h = harness(Policy {
        max_failed_verifications_per_subject_per_day: 3,
        max_attempts: 2,
        ..Policy::without_send_limits()
    });
    h.clock.advance(3600);
    let phones = ["9876543210", "9876543211"].map(|n| PhoneNumber::parse(n, "IN").unwrap());
    let mut wrong_guesses = 0;
    for phone in &phones {
        let sent = h.send_from("mallory", phone, None).await.unwrap();
        for _ in 0..2 {
            let request = VerifyRequest {
                subject: "mallory",
                phone,
                auth_code: &sent.auth_code,
                code: "000000",
            };
            match h.otp.verify_code(request).await {
                Err(OtpError::WrongCode { .. } | OtpError::TooManyAttempts) => wrong_guesses += 1,
                Err(OtpError::TooManyFailures { retry_after_seconds }) => {
                    assert_eq!(retry_after_seconds, 86_400 - 3600, "until the day ends");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(wrong_guesses, 3, "the fourth wrong code is refused");

    // Refused even with the right code, and without touching the challenge.
    let sent = h.send("mallory").await.unwrap();
    let code = h.last_code();
    let refused = h.verify("mallory", &sent.auth_code, &code).await;
    assert!(matches!(refused, Err(OtpError::TooManyFailures { .. })));
    assert!(h.verify("alice", "0000", "000000").await.is_err(), "others are not held");
    h.clock.advance(86_400);
    h.verify("mallory", &sent.auth_code, &code).await.unwrap_err(); // expired by now
    let sent = h.send("mallory").await.unwrap();
    h.verify("mallory", &sent.auth_code, &h.last_code()).await.unwrap();
}

/// Numbers of non-geographic networks (+870 Inmarsat, +881 satellite, +882 and +883
/// international networks) count under their calling code as a country: its caps, the
/// country lists and the breaker all see them.
#[tokio::test]
async fn a_non_geographic_number_counts_under_its_calling_code_as_a_country() {
    let policy = Policy {
        max_sends_per_country_per_day: "1".parse().unwrap(),
        ..Policy::without_send_limits()
    };
    let h = harness(policy);
    let satellite = |digits: &str| PhoneNumber::parse(digits, "").unwrap();
    assert!(h.send_from("alice", &satellite("+881612345678"), None).await.is_ok());
    let second = h.send_from("bob", &satellite("+881612345679"), None).await;
    assert!(matches!(second, Err(OtpError::RateLimited { .. })), "{second:?}");

    let denied = Policy { denied_countries: "+881".parse().unwrap(), ..Policy::default() };
    let refused = harness(denied).send_from("carol", &satellite("+881612345678"), None).await;
    assert!(matches!(refused, Err(OtpError::CountryNotAllowed)), "{refused:?}");
    let inmarsat = Policy { allowed_countries: Some("IN".parse().unwrap()), ..Policy::default() };
    let refused = harness(inmarsat).send_from("dan", &satellite("+870773123456"), None).await;
    assert!(matches!(refused, Err(OtpError::CountryNotAllowed)), "{refused:?}");
}

/// UK personal numbers (+4470) and universal access numbers (+888) forward calls and
/// messages on, as fraud lists warn: none gets a code unless the operator allows them.
#[tokio::test]
async fn personal_and_universal_access_numbers_get_no_code_by_default() {
    let h = harness(Policy::default());
    for number in ["+447012345678", "+88812345678901"] {
        let phone = PhoneNumber::parse(number, "").unwrap();
        let refused = h.send_from("alice", &phone, None).await;
        assert!(matches!(refused, Err(OtpError::UnsupportedNumberType)), "{number}: {refused:?}");
    }
}
