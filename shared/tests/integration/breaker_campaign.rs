//! SMS pumping simulated against the service, over both stores (in memory, and DynamoDB on
//! moto): many accounts and addresses send codes to many numbers of one prefix and nobody
//! verifies, while real users in another prefix of the same country and in another
//! country get and type in their codes. The breaker must stop the campaign after its
//! sample minimum and never refuse a real user; monitor mode must refuse nothing and say
//! what it would have refused; the send budgets must hold exactly under parallel sends.

use std::net::{IpAddr, Ipv4Addr};

use otp_shared::otp::breaker::{BreakerMode, BreakerSettings};
use otp_shared::otp::destinations::CountryLimits;
use otp_shared::otp::ports::ChallengeStore;
use otp_shared::otp::{OtpError, OtpService, Policy, SendRequest, VerifyRequest};
use otp_shared::phone::PhoneNumber;
use otp_shared::sms::Inbox;
use otp_shared::store::{DynamoStore, MemoryStore};
use otp_shared::system::OsRandom;
use otp_shared::testing::{ManualClock, START, service};
use otp_testkit::Capture;
use otp_testkit::moto::{fresh_table, sdk};
use tracing::Level;

type Service<S> = OtpService<S, Inbox, ManualClock, OsRandom>;

/// The campaign's figures.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    /// Pumped sends that went out before the breaker stopped them.
    pumped_sent: usize,
    /// Pumped sends refused with `DESTINATION_THROTTLED`.
    pumped_throttled: usize,
    /// Real users' sends.
    real_sent: usize,
    /// Real users' sends refused, for any reason.
    real_refused: usize,
}

fn policy(mode: BreakerMode) -> Policy {
    Policy {
        breaker: BreakerSettings { mode, ..BreakerSettings::default() },
        // Every request comes from a fresh account and address, to a fresh number, as a
        // campaign's would: no per-caller cap could stop it, so none is kept (which keeps
        // moto's table, and so these tests, small).
        max_sends_per_phone_per_hour: 0,
        max_sends_per_subject_per_hour: 0,
        max_sends_per_ip_per_hour: 0,
        ..Policy::default()
    }
}

fn build<S: ChallengeStore>(store: S, policy: Policy) -> (Service<S>, Inbox, ManualClock) {
    let (inbox, clock) = (Inbox::new(), ManualClock::new(START + 7));
    let otp =
        service().store(store).sender(inbox.clone()).clock(clock.clone()).policy(policy).build();
    (otp, inbox, clock)
}

fn address(n: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
}

/// A real user: asks for a code and, nine times in ten, types it in.
async fn real_user<S: ChallengeStore>(
    otp: &Service<S>,
    inbox: &Inbox,
    n: u32,
    phone: &PhoneNumber,
    figures: &mut Figures,
) {
    let subject = format!("user-{n}");
    let request = SendRequest { subject: &subject, phone, client_ip: address(n), locales: &[] };
    let sent = match otp.send_code(request).await {
        Ok(sent) => sent,
        Err(error) => {
            eprintln!("real user {n} refused: {error:?}");
            figures.real_refused += 1;
            return;
        }
    };
    figures.real_sent += 1;
    if n.is_multiple_of(10) {
        return;
    }
    let sms = inbox.messages().into_iter().rev().find(|sms| sms.to == phone.e164()).unwrap();
    let code = otp_testkit::code_in(&sms.body, 6);
    let verify =
        VerifyRequest { subject: &subject, phone, auth_code: &sent.auth_code, code: &code };
    otp.verify_code(verify).await.unwrap();
}

/// 120 pumped sends to numbers of `+91 70000` and, between them, 36 real users on `+91 98`
/// numbers, in the US and in Canada; five seconds apart, all within the hour.
async fn campaign<S: ChallengeStore>(
    otp: &Service<S>,
    inbox: &Inbox,
    clock: &ManualClock,
) -> Figures {
    let mut figures = Figures::default();
    for n in 0..120u32 {
        let pumped = PhoneNumber::parse(&format!("+9170000{:05}", 10_000 + n), "").unwrap();
        let subject = format!("pump-{n}");
        let request = SendRequest {
            subject: &subject,
            phone: &pumped,
            client_ip: address(1000 + n),
            locales: &[],
        };
        match otp.send_code(request).await {
            Ok(_) => figures.pumped_sent += 1,
            Err(OtpError::DestinationThrottled { retry_after_seconds }) => {
                assert!((1..=3600).contains(&retry_after_seconds));
                figures.pumped_throttled += 1;
            }
            Err(other) => panic!("pumped send {n}: {other:?}"),
        }
        if n.is_multiple_of(10) {
            let n = n / 10;
            let india = PhoneNumber::parse(&format!("+9198765{:05}", 10_000 + n), "").unwrap();
            real_user(otp, inbox, n, &india, &mut figures).await;
            let us = PhoneNumber::parse(&format!("+1415555{:04}", 1000 + n), "").unwrap();
            real_user(otp, inbox, 100 + n, &us, &mut figures).await;
            let canada = PhoneNumber::parse(&format!("+1604555{:04}", 1000 + n), "").unwrap();
            real_user(otp, inbox, 200 + n, &canada, &mut figures).await;
        }
        clock.advance(5);
    }
    figures
}

async fn enforced_the_campaign_is_stopped_after_its_sample_and_no_real_user_is_refused(
    store: impl ChallengeStore,
) {
    let (otp, inbox, clock) = build(store, policy(BreakerMode::Enforce));
    let figures = campaign(&otp, &inbox, &clock).await;
    println!("enforce: {figures:?}");
    assert_eq!(figures.pumped_sent, 20, "the breaker's sample minimum, then nothing");
    assert_eq!(figures.pumped_throttled, 100);
    assert_eq!((figures.real_sent, figures.real_refused), (36, 0));
    let pumped_sms = inbox.messages().iter().filter(|sms| sms.to.starts_with("+9170000")).count();
    assert_eq!(pumped_sms, 20);
}

async fn monitor_mode_refuses_nothing_and_says_what_it_would_have(store: impl ChallengeStore) {
    let lines = Capture::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _default = otp_testkit::scoped_subscriber(subscriber);
    let (otp, inbox, clock) = build(store, policy(BreakerMode::Monitor));
    let figures = campaign(&otp, &inbox, &clock).await;
    assert_eq!((figures.pumped_sent, figures.pumped_throttled), (120, 0));
    assert_eq!((figures.real_sent, figures.real_refused), (36, 0));
    let text = lines.text();
    let would: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["fields"]["event"] == "otp.would_refuse")
        .filter(|line| line["fields"]["destination"] == "91700")
        .collect();
    // Every send enforce mode refused. (Sent, the campaign goes on filling the tallies, so
    // India as a whole reaches its minimum too, which monitor mode reports as well.)
    assert_eq!(would.len(), 100, "every send enforce mode refused");
    let first = &would[0]["fields"];
    assert_eq!(first["rule"], "breaker_prefix");
    assert_eq!(first["destination"], "91700");
    assert_eq!(first["would_refuse"], true);
    assert_eq!((first["sent"].as_u64(), first["verified"].as_u64()), (Some(20), Some(0)));
    assert_eq!(first["conversion"], "0.0000");
    assert_eq!(first["tripped_now"], true);
    assert!(!text.contains("\"otp.refused\""), "nothing refused");
}

async fn the_verified_owner_of_a_tripped_prefix_still_gets_codes(store: impl ChallengeStore) {
    let (otp, inbox, clock) = build(store, policy(BreakerMode::Enforce));
    let owner = PhoneNumber::parse("+917000099999", "").unwrap();
    let mut figures = Figures::default();
    real_user(&otp, &inbox, 1, &owner, &mut figures).await;
    assert_eq!(figures.real_sent, 1);
    clock.advance(60);
    campaign(&otp, &inbox, &clock).await;
    let stranger = SendRequest { subject: "user-2", phone: &owner, client_ip: None, locales: &[] };
    assert!(matches!(otp.send_code(stranger).await, Err(OtpError::DestinationThrottled { .. })));
    let again = SendRequest { subject: "user-1", phone: &owner, client_ip: None, locales: &[] };
    assert!(otp.send_code(again).await.is_ok(), "the owner is exempt");
}

async fn a_tripped_prefix_reopens_once_its_cooldown_and_window_have_passed(
    store: impl ChallengeStore,
) {
    let (otp, inbox, clock) = build(store, policy(BreakerMode::Enforce));
    campaign(&otp, &inbox, &clock).await;
    let pumped = PhoneNumber::parse("+917000055555", "").unwrap();
    let request = SendRequest { subject: "late", phone: &pumped, client_ip: None, locales: &[] };
    let Err(OtpError::DestinationThrottled { retry_after_seconds }) = otp.send_code(request).await
    else {
        panic!("still tripped")
    };
    clock.advance(retry_after_seconds);
    assert!(otp.send_code(request).await.is_ok(), "the window has forgotten the campaign");
}

async fn a_campaign_spread_over_many_prefixes_trips_its_country_and_no_other(
    store: impl ChallengeStore,
) {
    let (otp, inbox, clock) = build(store, policy(BreakerMode::Enforce));
    let mut figures = Figures::default();
    let (mut to_uk, mut elsewhere) = (0, 0);
    // Five numbers in each of 40 UK mobile ranges (+44 750 to 759, 770 to 799): no prefix
    // reaches its sample minimum. (A few of those ranges are Jersey's or Guernsey's, which
    // libphonenumber, and so the breaker, count as countries of their own.)
    for n in 0..200u32 {
        let range = match n % 40 {
            low @ 0..10 => 50 + low,
            high => 60 + high,
        };
        let pumped = PhoneNumber::parse(&format!("+447{range}{:07}", 1_000_000 + n), "").unwrap();
        let subject = format!("pump-{n}");
        let request =
            SendRequest { subject: &subject, phone: &pumped, client_ip: address(n), locales: &[] };
        let uk = pumped.region() == Some("GB");
        match otp.send_code(request).await {
            Ok(_) if uk => to_uk += 1,
            Ok(_) => elsewhere += 1,
            Err(OtpError::DestinationThrottled { .. }) if uk => figures.pumped_throttled += 1,
            Err(other) => panic!("pumped send {n} to {:?}: {other:?}", pumped.region()),
        }
        if n.is_multiple_of(10) {
            let us = PhoneNumber::parse(&format!("+1415555{:04}", 3000 + n), "").unwrap();
            real_user(&otp, &inbox, n, &us, &mut figures).await;
        }
        clock.advance(3);
    }
    println!("spread: {figures:?}, {to_uk} to the UK, {elsewhere} elsewhere");
    assert_eq!(to_uk, 100, "the country's sample minimum, then nothing");
    assert_eq!(to_uk + elsewhere + figures.pumped_throttled, 200);
    assert_eq!((figures.real_sent, figures.real_refused), (20, 0), "the US is unaffected");
}

async fn budgets_refuse_exactly_at_their_limit_under_parallel_sends(store: impl ChallengeStore) {
    let policy = Policy {
        max_sends_per_hour: 12,
        max_sends_per_country_per_hour: "0;IN=5".parse::<CountryLimits>().unwrap(),
        breaker: BreakerSettings { mode: BreakerMode::Off, ..BreakerSettings::default() },
        ..Policy::default()
    };
    let (otp, inbox, _) = build(store, policy);
    let otp = std::sync::Arc::new(otp);
    let parallel_sends = |numbers: Vec<String>| {
        let tasks: Vec<_> = numbers
            .into_iter()
            .enumerate()
            .map(|(n, number)| {
                let otp = otp.clone();
                tokio::spawn(async move {
                    let phone = PhoneNumber::parse(&number, "").unwrap();
                    let subject = format!("s-{number}-{n}");
                    let request = SendRequest {
                        subject: &subject,
                        phone: &phone,
                        client_ip: None,
                        locales: &[],
                    };
                    otp.send_code(request).await
                })
            })
            .collect();
        async move {
            let mut sent = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Ok(_) => sent += 1,
                    Err(OtpError::RateLimited { retry_after_seconds }) => {
                        assert!((1..=3600).contains(&retry_after_seconds));
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
            sent
        }
    };
    let india = (0..20).map(|n| format!("+9198765{:05}", 20_000 + n)).collect();
    assert_eq!(parallel_sends(india).await, 5, "India's budget");
    let us = (0..20).map(|n| format!("+1415555{:04}", 2000 + n)).collect();
    assert_eq!(parallel_sends(us).await, 7, "what the global budget has left");
    assert_eq!(inbox.messages().len(), 12);
}

/// A send the breaker refuses is judged before anything is written, the first time too: a
/// refused resend leaves the subject's pending code usable, and the campaign's refused
/// sends write nothing.
async fn a_refused_resend_leaves_the_pending_code_as_it_was(store: impl ChallengeStore) {
    use otp_shared::otp::breaker::{Destination, Scope, Tallied};
    use otp_shared::otp::ports::Clock;
    let (otp, inbox, clock) = build(store.clone(), policy(BreakerMode::Enforce));
    let phone = PhoneNumber::parse("+917000099999", "").unwrap();
    let alice = SendRequest { subject: "alice", phone: &phone, client_ip: None, locales: &[] };
    let sent = otp.send_code(alice).await.unwrap();
    let code = otp_testkit::code_in(&inbox.messages()[0].body, 6);
    // The prefix converts nothing: twenty more sends, none verified.
    let prefix = [Destination { scope: Scope::Prefix, value: "91700".into() }];
    for _ in 0..20 {
        store.tally(&prefix, Tallied::Sent, clock.now()).await.unwrap();
    }
    clock.advance(Policy::default().resend_cooldown_seconds);
    assert!(matches!(otp.send_code(alice).await, Err(OtpError::DestinationThrottled { .. })));
    let verify =
        VerifyRequest { subject: "alice", phone: &phone, auth_code: &sent.auth_code, code: &code };
    otp.verify_code(verify).await.expect("the refused resend left the pending code alone");
    assert_eq!(inbox.messages().len(), 1);
}

/// Owners pass the breaker, and so are not tallied: owners sending to and verifying their
/// own numbers in a pumped prefix cannot lift its conversion and reopen it.
async fn owners_cannot_reopen_a_prefix_the_breaker_holds(store: impl ChallengeStore) {
    use otp_shared::otp::breaker::{Destination, Scope, Tallied};
    use otp_shared::otp::ports::Clock;
    let (otp, inbox, clock) = build(store.clone(), policy(BreakerMode::Enforce));
    let owners: Vec<PhoneNumber> =
        (0..3).map(|n| PhoneNumber::parse(&format!("+91700009999{n}"), "").unwrap()).collect();
    let mut figures = Figures::default();
    for (n, phone) in owners.iter().enumerate() {
        real_user(&otp, &inbox, 1 + n as u32, phone, &mut figures).await;
    }
    assert_eq!(figures.real_sent, 3);
    // Pumping: 3 verified of 23 sent, below the conversion of 0.2 over the sample of 20.
    let prefix = [Destination { scope: Scope::Prefix, value: "91700".into() }];
    for _ in 0..20 {
        store.tally(&prefix, Tallied::Sent, clock.now()).await.unwrap();
    }
    for _ in 0..4 {
        clock.advance(Policy::default().resend_cooldown_seconds);
        for (n, phone) in owners.iter().enumerate() {
            real_user(&otp, &inbox, 1 + n as u32, phone, &mut figures).await;
        }
    }
    assert_eq!((figures.real_sent, figures.real_refused), (15, 0), "owners are exempt");
    let pumped = PhoneNumber::parse("+917000012345", "").unwrap();
    let stranger = SendRequest { subject: "pump", phone: &pumped, client_ip: None, locales: &[] };
    let refused = otp.send_code(stranger).await;
    assert!(
        matches!(refused, Err(OtpError::DestinationThrottled { .. })),
        "the owners' 12 sends and verifications lifted nothing: {refused:?}"
    );
}

/// A DynamoDB store on a fresh table of the emulator, with time for moto to answer while
/// other tests keep it busy (these tests are about the breaker, not latency), and the
/// table's name, to drop it afterwards.
async fn dynamodb() -> (DynamoStore, String) {
    let sdk = sdk().await;
    let table = fresh_table(&sdk).await;
    let store = otp_testkit::moto::store_on(aws_sdk_dynamodb::Client::new(&sdk), &table);
    (store, table)
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(super::MemoryStore::new()).await })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $case() {
                let (store, table) = super::dynamodb().await;
                super::$case(store).await;
                otp_testkit::moto::drop_table(&otp_testkit::moto::sdk().await, &table).await;
            })*
        }
    };
}

both_stores![
    enforced_the_campaign_is_stopped_after_its_sample_and_no_real_user_is_refused,
    monitor_mode_refuses_nothing_and_says_what_it_would_have,
    the_verified_owner_of_a_tripped_prefix_still_gets_codes,
    a_tripped_prefix_reopens_once_its_cooldown_and_window_have_passed,
    a_campaign_spread_over_many_prefixes_trips_its_country_and_no_other,
    budgets_refuse_exactly_at_their_limit_under_parallel_sends,
    a_refused_resend_leaves_the_pending_code_as_it_was,
    owners_cannot_reopen_a_prefix_the_breaker_holds,
];
