//! The message text's rules: the locale choice, templates and the autofill lines.

use super::*;
use crate::sms::segments::{Encoding, check_one_segment, measure};

fn locales(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|tag| (*tag).to_owned()).collect()
}

#[test]
fn the_language_is_the_request_then_accept_language_then_the_country_then_english() {
    let messages =
        Messages::default().with_details("IN:hi,BR:pt".parse().unwrap(), None, None, None);
    assert_eq!(messages.locale_for(&locales(&["es-MX", "fr"]), Some("IN")), "es");
    assert_eq!(messages.locale_for(&locales(&["xx", "fr-CA"]), Some("IN")), "fr");
    assert_eq!(messages.locale_for(&locales(&["zz", "!!"]), Some("IN")), "hi");
    assert_eq!(messages.locale_for(&[], Some("BR")), "pt");
    assert_eq!(messages.locale_for(&[], Some("US")), "en");
    assert_eq!(messages.locale_for(&[], None), "en");
}

#[test]
fn operator_templates_add_or_replace_languages_and_must_hold_the_code() {
    let templates: Templates =
        "en=Code {code}\\nfor {app}| sw={code} ni msimbo wako".parse().unwrap();
    let messages = Messages::default().with_templates(&templates, None).unwrap();
    assert_eq!(messages.render(&[], None, "1234", 5).text, "Code 1234\nfor ");
    assert_eq!(messages.render(&locales(&["sw-KE"]), None, "1234", 5).text, "1234 ni msimbo wako");
    assert!("en=no code here".parse::<Templates>().is_err());
    assert!("just text".parse::<Templates>().is_err());
    let error = Messages::default().with_templates(&Templates::default(), Some(&locales(&["xx"])));
    assert_eq!(error.unwrap_err(), MessageError::UnknownLocale("xx".into()));
}

#[test]
fn country_defaults_parse_and_refuse_unknown_regions() {
    assert!("IN:hi, br:pt-BR, +881:en".parse::<CountryLocales>().is_ok());
    assert!("XX:hi".parse::<CountryLocales>().is_err());
    assert!("IN".parse::<CountryLocales>().is_err());
}

#[test]
fn every_built_in_message_reads_well_without_an_app_and_fits_one_segment() {
    let messages = Messages::default();
    for locale in messages.locales() {
        let sms = messages.render(&[locale.to_owned()], None, "123456", 5);
        assert_eq!(sms.locale, locale);
        assert!(sms.text.starts_with("123456 "), "code first: {}", sms.text);
        assert!(!sms.text.contains('{') && !sms.text.contains("  "), "{}", sms.text);
        assert_eq!(measure(&sms.text).2, 1);
    }
    assert!(check_one_segment(&messages, 10, 5).is_ok());
    let named = Messages::default().with_details(
        CountryLocales::default(),
        Some("Acme".into()),
        None,
        None,
    );
    assert!(check_one_segment(&named, 10, 60).is_ok());
    assert!(named.render(&[], None, "1", 5).text.contains("Acme"));
}

#[test]
fn autofill_lines_end_the_message_the_webotp_one_last() {
    let messages = Messages::default().with_details(
        CountryLocales::default(),
        None,
        Some("app.example.com".into()),
        Some("FA+9qCX9VSu".into()),
    );
    let sms = messages.render(&[], None, "042137", 5);
    let lines: Vec<&str> = sms.text.lines().collect();
    assert_eq!(lines.last(), Some(&"@app.example.com #042137"));
    assert_eq!(lines[1], "FA+9qCX9VSu");
    assert_eq!(measure(&sms.text).0, Encoding::Gsm7);
}
