//! The SMS text's rules: encodings, the locale choice, templates and the one-segment check.

use super::*;

fn locales(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|tag| (*tag).to_owned()).collect()
}

#[test]
fn gsm7_counts_extension_characters_twice_and_anything_else_makes_it_ucs2() {
    assert_eq!(measure("123456 is your code"), (Encoding::Gsm7, 19, 1));
    assert_eq!(measure("a€b"), (Encoding::Gsm7, 4, 1), "€ is in the extension table");
    assert_eq!(measure("código"), (Encoding::Ucs2, 6, 1), "ó is not GSM 03.38");
    assert_eq!(measure(&"a".repeat(160)).2, 1);
    assert_eq!(measure(&"a".repeat(161)).2, 2);
    assert_eq!(measure(&"a".repeat(306)).2, 2, "153 per part");
    assert_eq!(measure(&"ü".repeat(160)).0, Encoding::Gsm7);
    assert_eq!(measure(&"अ".repeat(70)), (Encoding::Ucs2, 70, 1));
    assert_eq!(measure(&"अ".repeat(71)).2, 2);
    assert_eq!(measure("😀").1, 2, "outside the BMP: two UTF-16 units");
    assert_eq!(measure(&"{".repeat(80)), (Encoding::Gsm7, 160, 1));
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
fn every_built_in_message_reads_well_without_an_app_and_fits_one_segment() {
    let messages = Messages::default();
    for locale in messages.locales() {
        let sms = messages.render(&[locale.to_owned()], None, "123456", 5);
        assert_eq!(sms.locale, locale);
        assert!(sms.text.starts_with("123456 "), "code first: {}", sms.text);
        assert!(!sms.text.contains('{') && !sms.text.contains("  "), "{}", sms.text);
        assert_eq!(sms.segments, 1);
    }
    assert!(messages.check_single_segment(10, 5).is_ok());
    let named = Messages::default().with_details(
        CountryLocales::default(),
        Some("Acme".into()),
        None,
        None,
    );
    assert!(named.check_single_segment(10, 60).is_ok());
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
    assert_eq!(sms.encoding, Encoding::Gsm7);
}

#[test]
fn every_built_in_message_fits_one_segment_with_the_android_hash() {
    for app in [None, Some("Acme".to_owned())] {
        let messages = Messages::default().with_details(
            CountryLocales::default(),
            app.clone(),
            None,
            Some("FA+9qCX9VSu".into()),
        );
        assert_eq!(messages.check_single_segment(6, 10), Ok(()), "app name {app:?}");
    }
    let web = Messages::default().with_details(
        CountryLocales::default(),
        Some("Acme Pay".into()),
        Some("app.example.com".into()),
        Some("FA+9qCX9VSu".into()),
    );
    let latin = ["en", "es", "pt", "fr", "de", "id"].map(String::from);
    let latin = web.with_templates(&Templates::default(), Some(&latin)).unwrap();
    assert_eq!(latin.check_single_segment(6, 10), Ok(()), "Latin scripts take both lines");
}

#[test]
fn a_message_that_would_take_two_segments_is_refused_naming_its_locale_and_length() {
    let messages = Messages::default().with_details(
        CountryLocales::default(),
        None,
        Some("app.example.com".into()),
        None,
    );
    match messages.check_single_segment(6, 5) {
        Err(MessageError::TooLong { locale, units, encoding, limit }) => {
            assert!(["ar", "hi"].contains(&locale.as_str()), "{locale}");
            assert!(units > 70 && encoding == "UCS-2" && limit == 70);
        }
        other => panic!("expected the UCS-2 locales to overflow with a WebOTP line: {other:?}"),
    }
    let latin_only =
        messages.with_templates(&Templates::default(), Some(&locales(&["es", "fr"]))).unwrap();
    assert!(latin_only.check_single_segment(6, 5).is_ok());
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
    assert!("IN:hi, br:pt-BR".parse::<CountryLocales>().is_ok());
    assert!("XX:hi".parse::<CountryLocales>().is_err());
    assert!("IN".parse::<CountryLocales>().is_err());
}
