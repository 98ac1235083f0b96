//! Who an SMS is sent as, per destination country: what carriers require before they
//! deliver (a registered sender ID, an origination number, India's DLT entity and template
//! IDs), and the most one message may cost. Global settings (`SMS_SENDER_ID`, ...) apply
//! everywhere; `SMS_SENDERS` overrides them per country, field by field.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::phone::PhoneNumber;

/// The sender settings for one destination; each is sent only when set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// An E.164 number the message comes from (`AWS.MM.SMS.OriginationNumber`).
    pub origination_number: Option<String>,
    /// An alphanumeric sender ID, 1 to 11 characters with a letter (`AWS.SNS.SMS.SenderID`).
    pub sender_id: Option<String>,
    /// The most one message may cost, in USD (`AWS.SNS.SMS.MaxPrice`).
    pub max_price_usd: Option<String>,
    /// India's DLT principal entity ID (`AWS.MM.SMS.EntityId`).
    pub dlt_entity_id: Option<String>,
    /// India's DLT content template ID (`AWS.MM.SMS.TemplateId`).
    pub dlt_template_id: Option<String>,
    /// DLT content template IDs by message locale (`dlt_template_id.hi=...`): DLT matches the
    /// text against the template registered under the ID, so each language has its own.
    pub dlt_template_ids: BTreeMap<String, String>,
}

/// Why a sender setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSender(String);

/// The fields of [`Sender`], by the names `SMS_SENDERS` uses.
pub const FIELDS: [&str; 5] =
    ["origination_number", "sender_id", "max_price_usd", "dlt_entity_id", "dlt_template_id"];

impl Sender {
    /// Sets the field `name` to `value`, checking it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), InvalidSender> {
        let value = value.trim();
        if let Some(locale) = name.strip_prefix("dlt_template_id.") {
            let locale = locale.trim().to_ascii_lowercase();
            let tag = !locale.is_empty()
                && locale.split('-').all(|part| {
                    (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
                });
            if !tag {
                return Err(InvalidSender(format!("{name}: {locale:?} is not a locale")));
            }
            self.dlt_template_ids.insert(locale, check_dlt_id(value).map_err(InvalidSender)?);
            return Ok(());
        }
        let checked = match name {
            "origination_number" => check_origination_number(value),
            "sender_id" => check_sender_id(value),
            "max_price_usd" => check_price(value),
            "dlt_entity_id" | "dlt_template_id" => check_dlt_id(value),
            other => Err(format!("{other} is not a sender field (one of {})", FIELDS.join(", "))),
        }
        .map_err(InvalidSender)?;
        let slot = match name {
            "origination_number" => &mut self.origination_number,
            "sender_id" => &mut self.sender_id,
            "max_price_usd" => &mut self.max_price_usd,
            "dlt_entity_id" => &mut self.dlt_entity_id,
            _ => &mut self.dlt_template_id,
        };
        *slot = Some(checked);
        Ok(())
    }

    /// These settings, with each of `other`'s that is set in its place.
    fn overridden_by(&self, other: &Sender) -> Sender {
        let pick =
            |own: &Option<String>, theirs: &Option<String>| theirs.clone().or_else(|| own.clone());
        Sender {
            origination_number: pick(&self.origination_number, &other.origination_number),
            sender_id: pick(&self.sender_id, &other.sender_id),
            max_price_usd: pick(&self.max_price_usd, &other.max_price_usd),
            dlt_entity_id: pick(&self.dlt_entity_id, &other.dlt_entity_id),
            dlt_template_id: pick(&self.dlt_template_id, &other.dlt_template_id),
            dlt_template_ids: if other.dlt_template_ids.is_empty() {
                self.dlt_template_ids.clone()
            } else {
                other.dlt_template_ids.clone()
            },
        }
    }

    /// The DLT content template ID for a message in `locale`: its own, else the general one.
    pub fn dlt_template_id_for(&self, locale: &str) -> Option<&str> {
        self.dlt_template_ids.get(locale).or(self.dlt_template_id.as_ref()).map(String::as_str)
    }
}

fn check_origination_number(value: &str) -> Result<String, String> {
    let phone = PhoneNumber::parse(value, "").ok().filter(|_| value.starts_with('+'));
    phone
        .map(|phone| phone.e164().to_owned())
        .ok_or_else(|| "must be an E.164 number, such as +18005550100".to_owned())
}

fn check_sender_id(value: &str) -> Result<String, String> {
    let alphanumeric = value.bytes().all(|b| b.is_ascii_alphanumeric());
    let has_letter = value.bytes().any(|b| b.is_ascii_alphabetic());
    if (1..=11).contains(&value.len()) && alphanumeric && has_letter {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 11 letters and digits, at least one a letter".to_owned())
    }
}

fn check_price(value: &str) -> Result<String, String> {
    let decimal = value.split_once('.').map_or(value, |(whole, _)| whole);
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let well_formed =
        digits(decimal) && value.split_once('.').is_none_or(|(_, cents)| digits(cents));
    match value.parse::<f64>() {
        Ok(price) if well_formed && price > 0.0 => Ok(value.to_owned()),
        _ => Err("must be a positive decimal, such as 0.50".to_owned()),
    }
}

fn check_dlt_id(value: &str) -> Result<String, String> {
    if (1..=30).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err("must be the digits DLT registration gave".to_owned())
    }
}

/// `IN:sender_id=ACMEIN,dlt_entity_id=1101...;US:origination_number=+18005550100`: sender
/// settings per destination country (`SMS_SENDERS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountrySenders(BTreeMap<String, Sender>);

impl FromStr for CountrySenders {
    type Err = InvalidSender;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut senders = BTreeMap::new();
        let entries = list.split(';').map(str::trim).filter(|entry| !entry.is_empty());
        for (index, entry) in entries.enumerate() {
            let position = index + 1;
            let in_entry = |reason: String| InvalidSender(format!("entry {position}: {reason}"));
            let (country, fields) = entry
                .split_once(':')
                .ok_or_else(|| in_entry("is not COUNTRY:field=value,...".to_owned()))?;
            let country = country.trim().to_ascii_uppercase();
            if !crate::phone::is_destination_code(&country) {
                return Err(in_entry(format!(
                    "{country} is not a region code or a network's calling code (+881)"
                )));
            }
            let mut sender = Sender::default();
            for field in fields.split(',').map(str::trim).filter(|field| !field.is_empty()) {
                let (name, value) = field
                    .split_once('=')
                    .ok_or_else(|| in_entry(format!("{field} is not field=value")))?;
                sender
                    .set(name.trim(), value)
                    .map_err(|error| in_entry(format!("{}: {error}", name.trim())))?;
            }
            senders.insert(country, sender);
        }
        Ok(Self(senders))
    }
}

/// The global settings and the per-country overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Senders {
    global: Sender,
    by_country: CountrySenders,
}

impl Senders {
    /// The global settings, overridden per country by `by_country`.
    pub fn new(global: Sender, by_country: CountrySenders) -> Self {
        Self { global, by_country }
    }

    /// The settings for a message to `phone`.
    pub fn for_phone(&self, phone: &PhoneNumber) -> Sender {
        match phone.region().and_then(|region| self.by_country.0.get(region)) {
            Some(country) => self.global.overridden_by(country),
            None => self.global.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(number: &str) -> PhoneNumber {
        PhoneNumber::parse(number, "").unwrap()
    }

    #[test]
    fn country_entries_override_the_global_settings_field_by_field() {
        let mut global = Sender::default();
        global.set("sender_id", "ACME").unwrap();
        global.set("max_price_usd", "0.50").unwrap();
        let by_country: CountrySenders =
            "IN:sender_id=ACMEIN,dlt_entity_id=1101000000000000001,dlt_template_id=1107000000000000001; \
             us:origination_number=+1 800 555 0100"
                .parse()
                .unwrap();
        let senders = Senders::new(global, by_country);
        let india = senders.for_phone(&phone("+919876543219"));
        assert_eq!(india.sender_id.as_deref(), Some("ACMEIN"));
        assert_eq!(india.max_price_usd.as_deref(), Some("0.50"), "from the global settings");
        assert_eq!(india.dlt_template_id_for("en"), Some("1107000000000000001"));
        let hindi: CountrySenders =
            "IN:dlt_template_id=1107000000000000001,dlt_template_id.HI=1107000000000000002"
                .parse()
                .unwrap();
        let india = Senders::new(Sender::default(), hindi).for_phone(&phone("+919876543219"));
        assert_eq!(india.dlt_template_id_for("hi"), Some("1107000000000000002"));
        assert_eq!(india.dlt_template_id_for("en"), Some("1107000000000000001"));
        let us = senders.for_phone(&phone("+12015550123"));
        assert_eq!(us.origination_number.as_deref(), Some("+18005550100"));
        assert_eq!(us.sender_id.as_deref(), Some("ACME"));
        let uk = senders.for_phone(&phone("+447400123456"));
        assert_eq!(uk.origination_number, None);
        let networks: CountrySenders = "+881:max_price_usd=0.05".parse().unwrap();
        let satellite =
            Senders::new(Sender::default(), networks).for_phone(&phone("+881612345678"));
        assert_eq!(satellite.max_price_usd.as_deref(), Some("0.05"), "a network as a country");
    }

    #[test]
    fn every_value_is_checked_and_errors_name_the_entry() {
        let mut sender = Sender::default();
        for (field, value) in [
            ("origination_number", "18005550100"),
            ("origination_number", "+1"),
            ("sender_id", "123456"),
            ("sender_id", "TOOLONGSENDER"),
            ("sender_id", "ACME-IN"),
            ("max_price_usd", "0"),
            ("max_price_usd", "-1"),
            ("max_price_usd", "1e3"),
            ("max_price_usd", "abc"),
            ("dlt_entity_id", "11A"),
            ("dlt_template_id.", "1107"),
            ("dlt_template_id.h i", "1107"),
            ("dlt_template_id.hi", "x"),
            ("colour", "blue"),
        ] {
            assert!(sender.set(field, value).is_err(), "{field}={value}");
        }
        for (list, entry) in [
            ("IN:sender_id=OK;US:sender_id=!", "entry 2"),
            ("XX:sender_id=ACME", "entry 1"),
            ("IN sender_id=ACME", "entry 1"),
            ("IN:sender_id", "entry 1"),
        ] {
            let error = list.parse::<CountrySenders>().unwrap_err().to_string();
            assert!(error.starts_with(entry), "{list}: {error}");
        }
    }
}
