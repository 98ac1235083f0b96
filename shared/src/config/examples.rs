//! The secrets printed in this repository's README, docs and `events/` are public: a
//! deployment that copied one would be open to anyone who read it, so they are refused.

use super::ConfigError;
use super::defaults::parse_default;
use super::read::optional;
use crate::keyed_hash::MIN_KEY_BYTES;

/// The repository's examples: a secret that appears in them is public, and refused.
const EXAMPLES: [&str; 13] = [
    include_str!("../../../README.md"),
    include_str!("../../../docs/api.md"),
    include_str!("../../../docs/architecture.md"),
    include_str!("../../../docs/configuration.md"),
    include_str!("../../../docs/deploying.md"),
    include_str!("../../../docs/operating.md"),
    include_str!("../../../docs/performance.md"),
    include_str!("../../../docs/pumping.md"),
    include_str!("../../../docs/security.md"),
    include_str!("../../../docs/sms-delivery.md"),
    include_str!("../../../docs/testing.md"),
    include_str!("../../../events/env.json"),
    include_str!("../../../events/local.env"),
];

/// The variable that lets the examples' own secrets through, for `sam local invoke` and
/// `cargo lambda watch` with the files in `events/`. Never set it in a deployment.
pub const ALLOW_EXAMPLE_SECRETS: &str = "ALLOW_EXAMPLE_SECRETS";

/// Refuses a secret setting whose value appears in the examples, unless
/// [`ALLOW_EXAMPLE_SECRETS`] is true; the error names the variable, never the value.
pub(super) fn refuse_example_secrets(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if parse_default::<bool>(lookup, ALLOW_EXAMPLE_SECRETS)? {
        return Ok(());
    }
    for name in ["JWT_SECRET", "OTP_HASH_KEY", "VERIFICATION_TOKEN_PRIVATE_KEY"] {
        if optional(lookup, name).is_some_and(|value| is_example(&value)) {
            let reason = "is an example value from this repository's README, docs/ or \
                          events/; generate your own (see docs/deploying.md, Secrets)";
            return Err(ConfigError::invalid(name, reason));
        }
    }
    Ok(())
}

/// Whether a secret appears in the repository's examples. A PEM key is compared by its
/// base64 body, whatever its line breaks.
fn is_example(secret: &str) -> bool {
    let flat = |text: &str| -> String {
        text.replace("\\n", "").chars().filter(|c| !c.is_whitespace()).collect()
    };
    let secret = flat(secret);
    let body = secret.split("-----").find(|part| part.len() >= MIN_KEY_BYTES).unwrap_or(&secret);
    body.len() >= 16 && EXAMPLES.iter().any(|example| flat(example).contains(body))
}
