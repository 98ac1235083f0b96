//! The store port's contract, run against both stores: the in-memory one and the DynamoDB
//! one on moto. Every rule of the OTP policy that a store enforces is here once.

use otp_shared::otp::ports::{
    AttemptRefusal, Challenge, ChallengeStore, Check, CheckOutcome, Counter, CounterKind,
    FullCounter, Issue, IssueOutcome, SendRefusal, Withdrawal,
};
use otp_shared::store::DynamoStore;
use otp_testkit::moto::{fresh_table, sdk, store_on};

const NOW: u64 = 1_767_225_600;
const PHONE: &str = "phone-a";
const RIGHT: &[u8] = &[7; 32];
const WRONG: &[u8] = &[8; 32];

fn challenge(id: &str, subject: &str) -> Challenge {
    Challenge {
        id: id.to_owned(),
        phone_key: PHONE.to_owned(),
        subject_key: subject.to_owned(),
        code_digest: RIGHT.to_vec(),
        expires_at: NOW + 300,
        resend_after: NOW + 30,
        attempts: 0,
        used: false,
        tallied: true,
    }
}

fn counter(kind: CounterKind, key: &str, limit: u32) -> Counter {
    Counter { kind, key: format!("{}#{key}#{NOW}", kind.name()), limit, resets_at: NOW + 3600 }
}

async fn issue(
    store: &impl ChallengeStore,
    challenge: &Challenge,
    counters: &[Counter],
) -> IssueOutcome {
    issue_at(store, challenge, counters, NOW).await
}

async fn issue_at(
    store: &impl ChallengeStore,
    challenge: &Challenge,
    counters: &[Counter],
    now: u64,
) -> IssueOutcome {
    let issue = Issue { challenge, counters, now, as_verified_owner: false };
    store.issue(issue).await.unwrap()
}

/// A check by `subject` with `digest`, identified by `id`.
fn check<'a>(subject: &'a str, digest: &'a [u8], id: &'a str) -> Check<'a> {
    Check {
        phone_key: PHONE,
        subject_key: subject,
        code_digest: digest,
        now: NOW,
        max_attempts: 5,
        attempt_id: id,
        record_owner: true,
        failures: None,
        tally: &[],
    }
}

async fn checked(store: &impl ChallengeStore, check: Check<'_>) -> CheckOutcome {
    store.check(check).await.unwrap()
}

async fn owner(store: &impl ChallengeStore) -> Option<String> {
    store.verified(PHONE).await.unwrap().and_then(|phone| phone.owner)
}

async fn a_right_code_verifies_once_and_records_the_owner(store: impl ChallengeStore) {
    assert_eq!(issue(&store, &challenge("c1", "alice"), &[]).await, IssueOutcome::Issued);
    assert_eq!(store.verified(PHONE).await.unwrap(), None);
    let verified = checked(&store, check("alice", RIGHT, "k1")).await;
    assert_eq!(verified, CheckOutcome::Verified { reassigned: false });
    assert_eq!(owner(&store).await.as_deref(), Some("alice"));
    let again = checked(&store, check("alice", RIGHT, "k2")).await;
    assert_eq!(again, CheckOutcome::Refused(AttemptRefusal::Used));
}

async fn wrong_codes_count_attempts_until_the_challenge_is_locked(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let two = |id| Check { max_attempts: 2, ..check("alice", WRONG, id) };
    assert_eq!(checked(&store, two("k1")).await, CheckOutcome::WrongCode { attempts_left: 1 });
    assert_eq!(checked(&store, two("k2")).await, CheckOutcome::WrongCode { attempts_left: 0 });
    let right = Check { max_attempts: 2, ..check("alice", RIGHT, "k3") };
    assert_eq!(checked(&store, right).await, CheckOutcome::Refused(AttemptRefusal::Locked));
}

async fn refusals_say_why(store: impl ChallengeStore) {
    let none = checked(&store, check("alice", RIGHT, "k1")).await;
    assert_eq!(none, CheckOutcome::Refused(AttemptRefusal::NoChallenge));
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let late = Check { now: NOW + 300, ..check("alice", RIGHT, "k2") };
    assert_eq!(checked(&store, late).await, CheckOutcome::Refused(AttemptRefusal::Expired));
}

async fn each_subject_sees_only_its_own_challenge(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let mut bobs = challenge("c2", "bob");
    bobs.code_digest = WRONG.to_vec();
    assert_eq!(
        issue(&store, &bobs, &[]).await,
        IssueOutcome::Issued,
        "no cooldown across subjects"
    );
    let probe = checked(&store, check("carol", RIGHT, "k1")).await;
    assert_eq!(probe, CheckOutcome::Refused(AttemptRefusal::NoChallenge));
    let bob = checked(&store, check("bob", RIGHT, "k2")).await;
    assert_eq!(bob, CheckOutcome::WrongCode { attempts_left: 4 }, "alice's code is not bob's");
    let alice = checked(&store, check("alice", RIGHT, "k3")).await;
    assert_eq!(alice, CheckOutcome::Verified { reassigned: false }, "bob spent nothing of alice's");
}

async fn the_cooldown_refuses_the_same_subject_until_it_ends(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let early = issue_at(&store, &challenge("c2", "alice"), &[], NOW + 29).await;
    let cooling = SendRefusal { retry_at: NOW + 30, cooldown: true, ..SendRefusal::default() };
    assert_eq!(early, IssueOutcome::Refused(cooling));
    let mut third = challenge("c3", "alice");
    third.code_digest = WRONG.to_vec();
    assert_eq!(issue_at(&store, &third, &[], NOW + 30).await, IssueOutcome::Issued);
    let old_code = Check { now: NOW + 30, ..check("alice", RIGHT, "k1") };
    assert_eq!(
        checked(&store, old_code).await,
        CheckOutcome::WrongCode { attempts_left: 4 },
        "c3 replaced c1"
    );
    let new_code = Check { now: NOW + 30, ..check("alice", WRONG, "k2") };
    assert_eq!(checked(&store, new_code).await, CheckOutcome::Verified { reassigned: false });
}

async fn a_full_counter_refuses_and_a_refused_send_counts_nowhere(store: impl ChallengeStore) {
    let counters = [counter(CounterKind::Phone, "a", 2), counter(CounterKind::Ip, "x", 3)];
    for id in ["c1", "c2"] {
        let subject = format!("s-{id}");
        assert_eq!(issue(&store, &challenge(id, &subject), &counters).await, IssueOutcome::Issued);
    }
    let refused = issue(&store, &challenge("c3", "s-c3"), &counters).await;
    let full = SendRefusal {
        retry_at: NOW + 3600,
        full: vec![FullCounter { kind: CounterKind::Phone, count: 2 }],
        ..SendRefusal::default()
    };
    assert_eq!(refused, IssueOutcome::Refused(full));
    // The IP counter is at 2 of 3, not 3: one more send fits, the next does not.
    let ip = [counter(CounterKind::Ip, "x", 3)];
    assert_eq!(issue(&store, &challenge("c4", "s-c4"), &ip).await, IssueOutcome::Issued);
    assert!(matches!(issue(&store, &challenge("c5", "s-c5"), &ip).await, IssueOutcome::Refused(_)));
}

async fn the_verified_owner_is_not_held_to_the_phone_counter(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "owner"), &[]).await;
    checked(&store, check("owner", RIGHT, "k1")).await;
    let phone = [counter(CounterKind::Phone, "a", 1)];
    assert_eq!(issue(&store, &challenge("c2", "mallory"), &phone).await, IssueOutcome::Issued);
    let as_owner =
        |challenge| Issue { challenge, counters: &phone, now: NOW + 60, as_verified_owner: true };
    let owners = challenge("c3", "owner");
    assert_eq!(store.issue(as_owner(&owners)).await.unwrap(), IssueOutcome::Issued);
    let impostor = challenge("c4", "mallory");
    match store.issue(as_owner(&impostor)).await.unwrap() {
        IssueOutcome::Refused(refusal) => assert!(refusal.not_owner, "{refusal:?}"),
        IssueOutcome::Issued => panic!("only the owner is exempt"),
    }
}

async fn withdrawing_refunds_only_a_challenge_that_was_stored(store: impl ChallengeStore) {
    let phone = [counter(CounterKind::Phone, "a", 1)];
    let stored = challenge("c1", "alice");
    issue(&store, &stored, &phone).await;
    let never_stored = challenge("c9", "alice");
    store.withdraw(Withdrawal { challenge: &never_stored, refund: &phone }).await.unwrap();
    let still_full = issue(&store, &challenge("c2", "bob"), &phone).await;
    assert!(matches!(still_full, IssueOutcome::Refused(_)), "nothing was refunded");

    store.withdraw(Withdrawal { challenge: &stored, refund: &phone }).await.unwrap();
    let gone = checked(&store, check("alice", RIGHT, "k1")).await;
    assert_eq!(gone, CheckOutcome::Refused(AttemptRefusal::NoChallenge));
    assert_eq!(
        issue(&store, &challenge("c3", "alice"), &phone).await,
        IssueOutcome::Issued,
        "refunded, no cooldown"
    );
}

/// A send that fails after its challenge was stored (its SMS refused, its answer lost) is
/// withdrawn; the subject's code it replaced verifies again, as if nothing had been sent.
async fn a_withdrawal_puts_back_the_challenge_it_replaced(store: impl ChallengeStore) {
    let phone = [counter(CounterKind::Phone, "a", 5)];
    let first = challenge("c1", "alice");
    assert_eq!(issue(&store, &first, &phone).await, IssueOutcome::Issued);
    let mut second = challenge("c2", "alice");
    second.code_digest = WRONG.to_vec();
    assert_eq!(issue_at(&store, &second, &phone, NOW + 30).await, IssueOutcome::Issued);
    store.withdraw(Withdrawal { challenge: &second, refund: &phone }).await.unwrap();
    // A second withdrawal of the same challenge (a retry) takes nothing more back.
    store.withdraw(Withdrawal { challenge: &second, refund: &phone }).await.unwrap();
    let withdrawn = Check { now: NOW + 31, ..check("alice", WRONG, "k1") };
    assert_eq!(
        checked(&store, withdrawn).await,
        CheckOutcome::WrongCode { attempts_left: 4 },
        "the withdrawn code does not verify"
    );
    let earlier = Check { now: NOW + 31, ..check("alice", RIGHT, "k2") };
    assert_eq!(
        checked(&store, earlier).await,
        CheckOutcome::Verified { reassigned: false },
        "the code it replaced is back"
    );
    // Counted once (the first send), refunded once: four more fit in the cap of five.
    for n in 0..4 {
        let other = challenge(&format!("d{n}"), &format!("s{n}"));
        assert_eq!(issue_at(&store, &other, &phone, NOW + 40).await, IssueOutcome::Issued);
    }
    let over = challenge("d9", "s9");
    assert!(matches!(issue_at(&store, &over, &phone, NOW + 40).await, IssueOutcome::Refused(_)));
}

/// A send whose SMS timed out is withdrawn, yet the message may have arrived and its code
/// been verified in between: a withdrawal leaves a verified code as it is, and reopens
/// neither the code it replaced nor, when it replaced none, the phone for another check.
async fn a_withdrawal_leaves_a_code_verified_after_all(store: impl ChallengeStore) {
    let mut first = challenge("c1", "alice");
    first.code_digest = WRONG.to_vec();
    assert_eq!(issue(&store, &first, &[]).await, IssueOutcome::Issued);
    let second = challenge("c2", "alice");
    assert_eq!(issue_at(&store, &second, &[], NOW + 30).await, IssueOutcome::Issued);
    let arrived = Check { now: NOW + 31, ..check("alice", RIGHT, "k1") };
    assert_eq!(checked(&store, arrived).await, CheckOutcome::Verified { reassigned: false });
    store.withdraw(Withdrawal { challenge: &second, refund: &[] }).await.unwrap();
    let replaced = Check { now: NOW + 32, ..check("alice", WRONG, "k2") };
    assert_eq!(
        checked(&store, replaced).await,
        CheckOutcome::Refused(AttemptRefusal::Used),
        "the code the verified one replaced is not put back"
    );
    let only = challenge("c3", "bob");
    assert_eq!(issue(&store, &only, &[]).await, IssueOutcome::Issued);
    assert_eq!(
        checked(&store, check("bob", RIGHT, "k3")).await,
        CheckOutcome::Verified { reassigned: true }
    );
    store.withdraw(Withdrawal { challenge: &only, refund: &[] }).await.unwrap();
    assert_eq!(
        checked(&store, check("bob", RIGHT, "k4")).await,
        CheckOutcome::Refused(AttemptRefusal::Used),
        "still verified, not withdrawn"
    );
}

/// A refund whose counter is gone (its window ended and it was purged) refunds nothing and
/// stops neither the withdrawal nor the other refunds.
async fn a_refund_whose_counter_is_gone_stops_no_other_part(store: impl ChallengeStore) {
    let phone = [counter(CounterKind::Phone, "a", 1)];
    let stored = challenge("c1", "alice");
    issue(&store, &stored, &phone).await;
    let refund = [phone[0].clone(), counter(CounterKind::Ip, "never-counted", 3)];
    store.withdraw(Withdrawal { challenge: &stored, refund: &refund }).await.unwrap();
    let gone = checked(&store, check("alice", RIGHT, "k1")).await;
    assert_eq!(gone, CheckOutcome::Refused(AttemptRefusal::NoChallenge), "withdrawn");
    assert_eq!(
        issue(&store, &challenge("c2", "bob"), &phone).await,
        IssueOutcome::Issued,
        "the phone counter was refunded"
    );
}

async fn a_phone_verified_by_another_subject_changes_hands(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    checked(&store, check("alice", RIGHT, "k1")).await;
    issue(&store, &challenge("c2", "bob"), &[]).await;
    assert_eq!(
        checked(&store, check("bob", RIGHT, "k2")).await,
        CheckOutcome::Verified { reassigned: true }
    );
    assert_eq!(owner(&store).await.as_deref(), Some("bob"));
    issue_at(&store, &challenge("c3", "bob"), &[], NOW + 30).await;
    let again = Check { now: NOW + 30, ..check("bob", RIGHT, "k3") };
    assert_eq!(checked(&store, again).await, CheckOutcome::Verified { reassigned: false });
}

async fn test_numbers_leave_no_owner(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let test_number = Check { record_owner: false, ..check("alice", RIGHT, "k1") };
    assert_eq!(checked(&store, test_number).await, CheckOutcome::Verified { reassigned: false });
    assert_eq!(store.verified(PHONE).await.unwrap(), None);
}

async fn a_full_failure_counter_refuses_every_check_and_touches_nothing(
    store: impl ChallengeStore,
) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let failures = counter(CounterKind::Failures, "alice", 2);
    let with_cap = |digest, id| Check { failures: Some(&failures), ..check("alice", digest, id) };
    for (id, attempts_left) in [("k1", 4), ("k2", 3)] {
        let wrong = checked(&store, with_cap(WRONG, id)).await;
        assert_eq!(wrong, CheckOutcome::WrongCode { attempts_left });
    }
    let refused = CheckOutcome::TooManyFailures { retry_at: NOW + 3600 };
    assert_eq!(checked(&store, with_cap(WRONG, "k3")).await, refused);
    assert_eq!(checked(&store, with_cap(RIGHT, "k4")).await, refused);
    // A higher cap: the challenge had two attempts counted, no more.
    let raised = counter(CounterKind::Failures, "alice", 10);
    let right = Check { failures: Some(&raised), max_attempts: 3, ..check("alice", RIGHT, "k5") };
    assert_eq!(checked(&store, right).await, CheckOutcome::Verified { reassigned: false });
}

async fn a_retried_write_counts_once(store: impl ChallengeStore) {
    let phone = [counter(CounterKind::Phone, "a", 2)];
    let first = challenge("c1", "alice");
    for _ in 0..2 {
        assert_eq!(
            issue(&store, &first, &phone).await,
            IssueOutcome::Issued,
            "the retry succeeds too"
        );
    }
    assert_eq!(
        issue(&store, &challenge("c2", "bob"), &phone).await,
        IssueOutcome::Issued,
        "counted once"
    );

    let failures = counter(CounterKind::Failures, "alice", 10);
    let wrong = Check { failures: Some(&failures), ..check("alice", WRONG, "k1") };
    for _ in 0..2 {
        assert_eq!(checked(&store, wrong).await, CheckOutcome::WrongCode { attempts_left: 4 });
    }
    let right = check("alice", RIGHT, "k2");
    for _ in 0..2 {
        assert_eq!(checked(&store, right).await, CheckOutcome::Verified { reassigned: false });
    }
}

async fn parallel_checks_never_exceed_the_attempt_budget(store: impl ChallengeStore) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("k{n}");
                store.check(check("alice", WRONG, &id)).await.unwrap()
            })
        })
        .collect();
    let mut counted = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckOutcome::WrongCode { .. } => counted += 1,
            refused => assert_eq!(refused, CheckOutcome::Refused(AttemptRefusal::Locked)),
        }
    }
    assert_eq!(counted, 5);
}

async fn parallel_guesses_with_the_right_one_among_them_compare_no_more_than_the_budget(
    store: impl ChallengeStore,
) {
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let digest = if n == 39 { RIGHT } else { WRONG };
                store.check(check("alice", digest, &format!("k{n}"))).await.unwrap()
            })
        })
        .collect();
    let (mut compared, mut verified) = (0, false);
    for task in tasks {
        match task.await.unwrap() {
            CheckOutcome::WrongCode { .. } => compared += 1,
            CheckOutcome::Verified { .. } => (compared, verified) = (compared + 1, true),
            // Refused once the budget is spent, or once the right code has used the challenge.
            CheckOutcome::Refused(AttemptRefusal::Locked | AttemptRefusal::Used) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(compared <= 5, "every comparison was counted: at most the budget, not {compared}");
    assert!(verified || compared == 5, "without the right code, the whole budget: {compared}");
}

async fn parallel_guesses_across_challenges_never_exceed_the_failure_cap(
    store: impl ChallengeStore,
) {
    for n in 0..3 {
        let mut next = challenge(&format!("c{n}"), "alice");
        next.phone_key = format!("phone-{n}");
        issue(&store, &next, &[]).await;
    }
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let (phone, id) = (format!("phone-{}", n % 3), format!("k{n}"));
                let failures = counter(CounterKind::Failures, "alice", 4);
                let guess = Check {
                    phone_key: &phone,
                    failures: Some(&failures),
                    ..check("alice", WRONG, &id)
                };
                store.check(guess).await.unwrap()
            })
        })
        .collect();
    let mut counted = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckOutcome::WrongCode { .. } => counted += 1,
            refused => {
                assert!(matches!(refused, CheckOutcome::TooManyFailures { .. }), "{refused:?}")
            }
        }
    }
    assert_eq!(counted, 4);
}

async fn parallel_sends_never_exceed_a_counter(store: impl ChallengeStore) {
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut next = challenge(&format!("c{n}"), "alice");
                next.phone_key = format!("phone-{n}");
                let counters = [counter(CounterKind::Ip, "shared", 5)];
                let issue = Issue {
                    challenge: &next,
                    counters: &counters,
                    now: NOW,
                    as_verified_owner: false,
                };
                store.issue(issue).await.unwrap()
            })
        })
        .collect();
    let mut issued = 0;
    for task in tasks {
        match task.await.unwrap() {
            IssueOutcome::Issued => issued += 1,
            IssueOutcome::Refused(refusal) => {
                let ip = FullCounter { kind: CounterKind::Ip, count: 5 };
                assert_eq!(refusal.full, [ip]);
            }
        }
    }
    assert_eq!(issued, 5);
}

/// Ten checks of one right code at once: one verifies, and the breaker counts one
/// verification, not one per check that found the code right.
async fn parallel_right_codes_verify_once(store: impl ChallengeStore) {
    use otp_shared::otp::breaker::{Destination, Scope};
    let prefix = || vec![Destination { scope: Scope::Prefix, value: "91700".into() }];
    issue(&store, &challenge("c1", "alice"), &[]).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let (tally, attempt) = (prefix(), format!("k{n}"));
                let right = Check { tally: &tally, ..check("alice", RIGHT, &attempt) };
                store.check(right).await.unwrap()
            })
        })
        .collect();
    let mut verified = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckOutcome::Verified { .. } => verified += 1,
            refused => assert_eq!(refused, CheckOutcome::Refused(AttemptRefusal::Used)),
        }
    }
    assert_eq!(verified, 1);
    assert_eq!(store_tally(&store, &prefix()).await, (0, 1), "one verification tallied");
}

async fn breaker_tallies_sum_over_the_window_and_trips_only_lengthen(store: impl ChallengeStore) {
    use otp_shared::otp::breaker::{Destination, Reading, Scope, Tallied, Tally};
    use otp_shared::otp::time::window;
    let prefix = Destination { scope: Scope::Prefix, value: "91700".into() };
    let country = Destination { scope: Scope::Country, value: "IN".into() };
    let both = [prefix.clone(), country.clone()];
    for (at, event) in [
        (NOW, Tallied::Sent),
        (NOW + 700, Tallied::Sent),
        (NOW + 700, Tallied::Verified),
        (NOW + 3000, Tallied::Sent),
    ] {
        store.tally(&both, event, at).await.unwrap();
    }
    store.tally(std::slice::from_ref(&country), Tallied::Sent, NOW + 3000).await.unwrap();
    let reading = |sent, verified| Reading { tally: Tally { sent, verified }, tripped_until: None };
    let now = store.breaker_readings(&both, &window(NOW + 3000)).await.unwrap();
    assert_eq!(now, [reading(3, 1), reading(4, 1)]);
    // An hour on, the first bucket has left the window; later the rest do too.
    let later = store.breaker_readings(&both, &window(NOW + 3600)).await.unwrap();
    assert_eq!(later, [reading(2, 1), reading(3, 1)]);
    let gone = store.breaker_readings(&both, &window(NOW + 3000 + 3600)).await.unwrap();
    assert_eq!(gone, [reading(0, 0), reading(0, 0)]);

    store.trip(&prefix, NOW + 3600).await.unwrap();
    store.trip(&prefix, NOW + 1800).await.unwrap();
    let tripped = store.breaker_readings(&both, &window(NOW)).await.unwrap();
    assert_eq!(tripped[0].tripped_until, Some(NOW + 3600), "a shorter trip changes nothing");
    assert_eq!(tripped[1].tripped_until, None, "the country is not tripped");
    store.trip(&prefix, NOW + 7200).await.unwrap();
    let longer = store.breaker_readings(&both, &window(NOW)).await.unwrap();
    assert_eq!(longer[0].tripped_until, Some(NOW + 7200));
}

async fn a_right_code_is_tallied_with_its_check_and_a_wrong_one_is_not(store: impl ChallengeStore) {
    use otp_shared::otp::breaker::{Destination, Scope, Tallied};
    let prefix = [Destination { scope: Scope::Prefix, value: "91700".into() }];
    store
        .issue(Issue {
            challenge: &challenge("c1", "alice"),
            counters: &[],
            now: NOW,
            as_verified_owner: false,
        })
        .await
        .unwrap();
    let wrong = Check { tally: &prefix, ..check("alice", WRONG, "k1") };
    assert!(matches!(checked(&store, wrong).await, CheckOutcome::WrongCode { .. }));
    assert_eq!(store_tally(&store, &prefix).await, (0, 0), "a wrong code is no verification");
    let right = Check { tally: &prefix, ..check("alice", RIGHT, "k2") };
    assert!(matches!(checked(&store, right).await, CheckOutcome::Verified { .. }));
    assert_eq!(store_tally(&store, &prefix).await, (0, 1));
    store.tally(&prefix, Tallied::Sent, NOW).await.unwrap();
    store.tally(&prefix, Tallied::Sent, NOW).await.unwrap();
    store.tally(&prefix, Tallied::Unsent, NOW).await.unwrap();
    assert_eq!(
        store_tally(&store, &prefix).await,
        (1, 1),
        "an SMS refused after all is taken back"
    );
    for _ in 0..2 {
        store.tally(&prefix, Tallied::Unverified, NOW).await.unwrap();
        store.tally(&prefix, Tallied::Unsent, NOW).await.unwrap();
        store.tally(&prefix, Tallied::Unsent, NOW).await.unwrap();
    }
    assert_eq!(store_tally(&store, &prefix).await, (0, 0), "a take-back never goes below zero");
}

/// The prefix's (sent, verified) over the window at `NOW`.
async fn store_tally(
    store: &impl ChallengeStore,
    destinations: &[otp_shared::otp::breaker::Destination],
) -> (u64, u64) {
    let window = otp_shared::otp::time::window(NOW);
    let reading = store.breaker_readings(destinations, &window).await.unwrap()[0];
    (reading.tally.sent, reading.tally.verified)
}

/// A DynamoDB store on a fresh table of the emulator.
async fn dynamodb() -> DynamoStore {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    store_on(aws_sdk_dynamodb::Client::new(&sdk), &table)
}

/// One test per rule, each run against both stores.
macro_rules! contract {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $rule() { super::$rule(otp_shared::store::MemoryStore::new()).await })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $rule() { super::$rule(super::dynamodb().await).await })*
        }
    };
}

contract![
    a_right_code_is_tallied_with_its_check_and_a_wrong_one_is_not,
    breaker_tallies_sum_over_the_window_and_trips_only_lengthen,
    a_right_code_verifies_once_and_records_the_owner,
    wrong_codes_count_attempts_until_the_challenge_is_locked,
    refusals_say_why,
    each_subject_sees_only_its_own_challenge,
    the_cooldown_refuses_the_same_subject_until_it_ends,
    a_full_counter_refuses_and_a_refused_send_counts_nowhere,
    the_verified_owner_is_not_held_to_the_phone_counter,
    withdrawing_refunds_only_a_challenge_that_was_stored,
    a_withdrawal_puts_back_the_challenge_it_replaced,
    a_refund_whose_counter_is_gone_stops_no_other_part,
    a_withdrawal_leaves_a_code_verified_after_all,
    a_phone_verified_by_another_subject_changes_hands,
    test_numbers_leave_no_owner,
    a_full_failure_counter_refuses_every_check_and_touches_nothing,
    a_retried_write_counts_once,
    parallel_checks_never_exceed_the_attempt_budget,
    parallel_guesses_with_the_right_one_among_them_compare_no_more_than_the_budget,
    parallel_guesses_across_challenges_never_exceed_the_failure_cap,
    parallel_sends_never_exceed_a_counter,
    parallel_right_codes_verify_once,
];
