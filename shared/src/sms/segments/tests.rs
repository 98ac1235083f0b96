//! Segment counting and the one-segment check over the built-in messages.

use super::*;
use crate::otp::message::{CountryLocales, Templates};

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
fn every_built_in_message_fits_one_segment_with_the_android_hash() {
    for app in [None, Some("Acme".to_owned())] {
        let messages = Messages::default().with_details(
            CountryLocales::default(),
            app.clone(),
            None,
            Some("FA+9qCX9VSu".into()),
        );
        assert_eq!(check_one_segment(&messages, 6, 10), Ok(()), "app name {app:?}");
    }
    let web = Messages::default().with_details(
        CountryLocales::default(),
        Some("Acme Pay".into()),
        Some("app.example.com".into()),
        Some("FA+9qCX9VSu".into()),
    );
    let latin = ["en", "es", "pt", "fr", "de", "id"].map(String::from);
    let latin = web.with_templates(&Templates::default(), Some(&latin)).unwrap();
    assert_eq!(check_one_segment(&latin, 6, 10), Ok(()), "Latin scripts take both lines");
}

#[test]
fn a_message_that_would_take_two_segments_is_refused_naming_its_locale_and_length() {
    let messages = Messages::default().with_details(
        CountryLocales::default(),
        None,
        Some("app.example.com".into()),
        None,
    );
    match check_one_segment(&messages, 6, 5) {
        Err(MessageError::TooLong { locale, units, encoding, limit }) => {
            assert!(["ar", "hi"].contains(&locale.as_str()), "{locale}");
            assert!(units > 70 && encoding == "UCS-2" && limit == 70);
        }
        other => panic!("expected the UCS-2 locales to overflow with a WebOTP line: {other:?}"),
    }
    let latin_only =
        messages.with_templates(&Templates::default(), Some(&locales(&["es", "fr"]))).unwrap();
    assert!(check_one_segment(&latin_only, 6, 5).is_ok());
}
