//! The template's parameters take what the code takes: a value each country setting accepts
//! (a non-geographic network's calling code, `+881`, included) passes the parameter's
//! `AllowedPattern`, so a SAM deployment can say what a local run can.

use otp_shared::otp::destinations::{Countries, CountryLimits};
use regex::Regex;
use serde_yaml_ng::Value;

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Whether the template's parameter `name` allows `value`.
fn allows(name: &str, value: &str) -> bool {
    let template: Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let parameter = &template["Parameters"][name];
    assert!(parameter.is_mapping(), "no parameter {name}");
    parameter["AllowedPattern"]
        .as_str()
        .is_none_or(|pattern| Regex::new(pattern).unwrap().is_match(value))
}

#[test]
fn every_country_parameter_takes_a_networks_calling_code() {
    for (name, value) in [
        ("OtpAllowedCountries", "IN,+881"),
        ("OtpAllowedCountries", "+870, US"),
        ("OtpDeniedCountries", "+881,+882"),
    ] {
        assert!(value.parse::<Countries>().is_ok(), "the code takes {value}");
        assert!(allows(name, value), "{name} refuses {value}");
    }
    for name in ["OtpMaxSendsPerCountryPerHour", "OtpMaxSendsPerCountryPerDay"] {
        let value = "100;IN=2000;+881=0";
        assert!(value.parse::<CountryLimits>().is_ok(), "the code takes {value}");
        assert!(allows(name, value), "{name} refuses {value}");
    }
    assert!(allows("OtpAllowedCountries", "*"));
    assert!(!allows("OtpAllowedCountries", "IN;US"), "the pattern still checks");
}
