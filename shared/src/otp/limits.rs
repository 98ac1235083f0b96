//! The counted limits as one table: what each counts, whom, over which window, which policy
//! field sets it, and which other limit's item it is kept in. A new limit is one row here,
//! one [`Policy`] field and one setting; the stores, the refusals and the logs read the row.

use std::net::IpAddr;

use super::policy::Policy;
use super::time::{DAY, EpochSeconds, HOUR, window_start};

/// Whom a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    /// One phone, whoever asks.
    Phone,
    /// One JWT subject.
    Subject,
    /// One client address ([`subscriber`]).
    Ip,
    /// Every caller together.
    Everyone,
    /// Every caller's sends to one country.
    Country,
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Codes sent.
    Sends,
    /// Wrong codes submitted.
    WrongCodes,
}

/// One row of [`LIMITS`].
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// The counter kind this row defines.
    pub kind: CounterKind,
    /// The rule a full counter is, as refusals name it in logs and metrics.
    pub rule: &'static str,
    /// The name in stored keys.
    pub name: &'static str,
    /// Whom it counts.
    pub whom: Whom,
    /// What it counts.
    pub counts: Counts,
    /// Its fixed window, in seconds.
    pub window: u64,
    /// Its limit under a policy, for a send to `region` (when known); 0 is off.
    pub limit: fn(&Policy, Option<&str>) -> u32,
    /// The limit of the same scope and a longer window whose stored item also holds this
    /// one, so that one conditional write serves both.
    pub folds_into: Option<CounterKind>,
}

/// Defines [`CounterKind`] and [`LIMITS`] from one list of rows, so that they cannot drift.
macro_rules! limits {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident {
            rule: $rule:literal,
            name: $name:literal,
            whom: $whom:ident,
            counts: $counts:ident,
            window: $window:expr,
            limit: $limit:expr,
            folds_into: $folds:expr $(,)?
        }
    ),* $(,)?) => {
        /// What a counter counts: one row of [`LIMITS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CounterKind {
            $($(#[doc = $doc])* $kind,)*
        }

        /// Every counted limit, in the order a send's counters are listed.
        pub const LIMITS: &[Limit] = &[$(Limit {
            kind: CounterKind::$kind,
            rule: $rule,
            name: $name,
            whom: Whom::$whom,
            counts: Counts::$counts,
            window: $window,
            limit: $limit,
            folds_into: $folds,
        },)*];
    };
}

limits! {
    /// Codes sent to one phone, by anyone, in an hour.
    Phone {
        rule: "phone_hour", name: "phone", whom: Phone, counts: Sends, window: HOUR,
        limit: |policy, _| policy.max_sends_per_phone_per_hour, folds_into: None,
    },
    /// Codes one subject asked for, in an hour.
    Subject {
        rule: "subject_hour", name: "subject", whom: Subject, counts: Sends, window: HOUR,
        limit: |policy, _| policy.max_sends_per_subject_per_hour, folds_into: None,
    },
    /// Codes asked for from one client address, in an hour.
    Ip {
        rule: "ip_hour", name: "ip", whom: Ip, counts: Sends, window: HOUR,
        limit: |policy, _| policy.max_sends_per_ip_per_hour, folds_into: None,
    },
    /// Wrong codes one subject submitted, in a day.
    Failures {
        rule: "failures_day", name: "failures", whom: Subject, counts: WrongCodes, window: DAY,
        limit: |policy, _| policy.max_failed_verifications_per_subject_per_day, folds_into: None,
    },
    /// Codes sent to anyone, in an hour.
    BudgetHour {
        rule: "budget_hour", name: "budget_hour", whom: Everyone, counts: Sends, window: HOUR,
        limit: |policy, _| policy.max_sends_per_hour, folds_into: Some(CounterKind::BudgetDay),
    },
    /// Codes sent to anyone, in a day.
    BudgetDay {
        rule: "budget_day", name: "budget_day", whom: Everyone, counts: Sends, window: DAY,
        limit: |policy, _| policy.max_sends_per_day, folds_into: None,
    },
    /// Codes sent to one country, in an hour.
    CountryHour {
        rule: "budget_country_hour", name: "country_hour", whom: Country, counts: Sends,
        window: HOUR,
        limit: |policy, region| {
            region.map_or(0, |region| policy.max_sends_per_country_per_hour.for_region(region))
        },
        folds_into: Some(CounterKind::CountryDay),
    },
    /// Codes sent to one country, in a day.
    CountryDay {
        rule: "budget_country_day", name: "country_day", whom: Country, counts: Sends,
        window: DAY,
        limit: |policy, region| {
            region.map_or(0, |region| policy.max_sends_per_country_per_day.for_region(region))
        },
        folds_into: None,
    },
}

impl CounterKind {
    /// Its row of [`LIMITS`].
    pub fn limit(self) -> &'static Limit {
        // Every kind has its row: the macro makes both from one list, in one order.
        &LIMITS[self as usize]
    }

    /// The rule a full counter of this kind is, as refusals name it in logs and metrics.
    pub fn rule(self) -> &'static str {
        self.limit().rule
    }

    /// The name in stored keys.
    pub fn name(self) -> &'static str {
        self.limit().name
    }

    /// Whether it is a send budget (every caller's sends together), rather than a limit
    /// on one caller, phone or address.
    pub fn is_budget(self) -> bool {
        matches!(self.limit().whom, Whom::Everyone | Whom::Country)
    }

    /// The kind whose stored item also holds this one's count.
    pub fn folds_into(self) -> Option<Self> {
        self.limit().folds_into
    }
}

/// One fixed-window counter, such as "codes to this phone in this hour".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// What it counts.
    pub kind: CounterKind,
    /// Whom and which window it counts: `<kind>#<pseudonym>#<window start>`.
    pub key: String,
    /// Counts allowed in the window.
    pub limit: u32,
    /// When the window ends and the counter may be forgotten.
    pub resets_at: EpochSeconds,
}

impl Counter {
    /// The counter of `kind` for `whom` (a pseudonym, a region, `all`) in the window around
    /// `now`; `None` when `limit` is 0 (off).
    pub fn new(kind: CounterKind, whom: &str, limit: u32, now: EpochSeconds) -> Option<Self> {
        let length = kind.limit().window;
        let start = window_start(now, length);
        (limit > 0).then(|| Self {
            kind,
            key: format!("{}#{whom}#{start}", kind.name()),
            limit,
            resets_at: start + length,
        })
    }

    /// Whom it counts: its key without the kind and the window start.
    pub fn whom(&self) -> Option<&str> {
        let rest = self.key.strip_prefix(self.kind.name())?.strip_prefix('#')?;
        rest.rsplit_once('#').map(|(whom, _)| whom)
    }
}

/// Whom one send is counted against, by [`Whom`].
#[derive(Debug, Clone, Copy)]
pub struct SendScope<'a> {
    /// The phone's pseudonym.
    pub phone_key: &'a str,
    /// The subject's pseudonym.
    pub subject_key: &'a str,
    /// The pseudonym of the client's [`subscriber`] address, when known.
    pub ip_key: Option<&'a str>,
    /// The phone's region, when known.
    pub region: Option<&'a str>,
    /// A test number costs nothing: the send budgets do not count it.
    pub test_number: bool,
}

/// The counters a send must fit in, in the order of [`LIMITS`]; limits that are off (0)
/// or whose scope the send lacks have none.
pub fn send_counters(policy: &Policy, scope: &SendScope<'_>, now: EpochSeconds) -> Vec<Counter> {
    let budgeted = !scope.test_number;
    LIMITS
        .iter()
        .filter(|row| row.counts == Counts::Sends)
        .filter_map(|row| {
            let whom = match row.whom {
                Whom::Phone => Some(scope.phone_key),
                Whom::Subject => Some(scope.subject_key),
                Whom::Ip => scope.ip_key,
                Whom::Everyone => budgeted.then_some("all"),
                Whom::Country => scope.region.filter(|_| budgeted),
            }?;
            Counter::new(row.kind, whom, (row.limit)(policy, scope.region), now)
        })
        .collect()
}

/// The subject's counter of wrong codes in the window of `now`, unless that limit is off.
pub fn failure_counter(policy: &Policy, subject_key: &str, now: EpochSeconds) -> Option<Counter> {
    let kind = CounterKind::Failures;
    Counter::new(kind, subject_key, (kind.limit().limit)(policy, None), now)
}

/// What the per-IP limit counts: an IPv4 address, or an IPv6 address's /64, which one
/// subscriber usually holds whole.
pub fn subscriber(ip: IpAddr) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_its_own_row() {
        for (index, row) in LIMITS.iter().enumerate() {
            assert_eq!(row.kind as usize, index, "{}", row.rule);
            assert_eq!(row.kind.limit().rule, row.rule);
        }
    }

    #[test]
    fn a_limit_folds_only_into_a_longer_one_of_the_same_scope() {
        for row in LIMITS {
            if let Some(into) = row.folds_into {
                let into = into.limit();
                assert_eq!((into.whom, into.counts), (row.whom, row.counts), "{}", row.rule);
                assert!(into.window > row.window && into.window % row.window == 0, "{}", row.rule);
                assert_eq!(into.folds_into, None, "{}: one level", row.rule);
            }
        }
    }

    #[test]
    fn a_counter_names_its_kind_whom_and_window() {
        let counter = Counter::new(CounterKind::CountryHour, "IN", 5, 7_300).unwrap();
        assert_eq!(counter.key, "country_hour#IN#7200");
        assert_eq!((counter.resets_at, counter.whom()), (10_800, Some("IN")));
        assert_eq!(Counter::new(CounterKind::Phone, "p", 0, 7_300), None, "0 is off");
    }
}
