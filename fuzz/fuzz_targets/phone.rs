//! Phone normalisation on arbitrary input: never panics, and whatever it accepts is a
//! canonical E.164 number that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otp_shared::phone::PhoneNumber;

fuzz_target!(|input: (&str, &str)| {
    let (number, country) = input;
    if let Ok(phone) = PhoneNumber::parse(number, country) {
        let e164 = phone.e164();
        assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
        let again = PhoneNumber::parse(e164, "").expect("a normalised number parses again");
        assert_eq!(again.e164(), e164);
        assert_eq!(phone.masked().len(), e164.len());
    }
});
