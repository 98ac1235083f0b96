//! The `Accept-Language` request header, read into the locales a client prefers.

use crate::otp::message::normalise;

/// The locales an `Accept-Language` header asks for, best first (RFC 9110, 12.5.4); `*`
/// and anything malformed are skipped, as are ranges weighted `q=0`.
pub fn accept_language(header: &str) -> Vec<String> {
    let mut ranges: Vec<(u16, usize, String)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let tag = normalise(parts.next()?).filter(|tag| tag != "*")?;
            let quality = parts
                .find_map(|param| param.trim().strip_prefix("q="))
                .map_or(Some(1000), |q| {
                    q.trim().parse::<f32>().ok().map(|q| (q * 1000.0) as u16)
                })?;
            (quality > 0).then_some((quality, position, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, tag)| tag).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_read_by_quality_then_order() {
        assert_eq!(
            accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"),
            ["fr-ch", "fr", "en", "de"]
        );
        assert_eq!(accept_language("en;q=0.5, hi"), ["hi", "en"]);
        assert_eq!(accept_language("de;q=0, es"), ["es"]);
        assert!(accept_language(";;,q=1").is_empty());
    }
}
