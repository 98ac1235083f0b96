//! A backend checking an otp-verify verification token, with `jsonwebtoken`.
//!
//! `check-token JWKS_FILE ISSUER AUDIENCE TOKEN`: the JWKS as fetched from the service (a
//! real backend fetches it with its HTTP client and caches it). Prints the verified number
//! and whose it is; exits 1 saying why a token is refused. A real backend then also checks
//! that `sub` is the user of the session asking, and that `jti` was not used before.

use std::process::ExitCode;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

const TOKEN_TYPE: &str = "otp-verification+jwt";

/// The claims a backend acts on; `jti` is what it keeps to refuse a token used twice.
#[derive(Deserialize)]
struct Verified {
    sub: String,
    phone_number: String,
    #[allow(dead_code)] // a real backend records it
    jti: String,
}

fn check(token: &str, jwks: &JwkSet, issuer: &str, audience: &str) -> Result<Verified, String> {
    let header = decode_header(token).map_err(|error| error.to_string())?;
    if header.typ.as_deref() != Some(TOKEN_TYPE) {
        return Err(format!("typ is not {TOKEN_TYPE}"));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or_else(|| format!("no key {kid} in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|error| error.to_string())?;
    // Only the asymmetric algorithms the service signs with (no HS256 with a public key, no
    // `none`); the library also refuses a key of another family than the algorithm.
    if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256) {
        return Err(format!("{:?} is not an algorithm the service signs with", header.alg));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud", "jti"]);
    validation.leeway = 5;
    let data = decode::<Verified>(token, &key, &validation).map_err(|error| error.to_string())?;
    Ok(data.claims)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [jwks_file, issuer, audience, token] = args.as_slice() else {
        eprintln!("usage: check-token JWKS_FILE ISSUER AUDIENCE TOKEN");
        return ExitCode::from(2);
    };
    let jwks = std::fs::read_to_string(jwks_file)
        .map_err(|error| error.to_string())
        .and_then(|text| serde_json::from_str::<JwkSet>(&text).map_err(|error| error.to_string()));
    let checked = jwks.and_then(|jwks| check(token, &jwks, issuer, audience));
    match checked {
        Ok(verified) => {
            println!("{} verified for {}", verified.phone_number, verified.sub);
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("refused: {reason}");
            ExitCode::FAILURE
        }
    }
}
