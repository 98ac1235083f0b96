//! The local console and the demo sign-in page: HTML, CSS and plain JavaScript embedded in
//! the binary (no build step, no CDN), served with a strict Content-Security-Policy: scripts
//! and styles only from this server's own files, no inline script, no framing.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

/// The console's path.
pub const CONSOLE_PATH: &str = "/";

/// The demo sign-in page's path.
pub const DEMO_PATH: &str = "/_local/demo";

/// Where the pages' scripts and styles are served.
pub const ASSETS_PATH: &str = "/_local/assets/";

/// What the pages may load and do: their own scripts, styles and requests, nothing else.
/// Forms never submit natively (the scripts send them), and Trusted Types make the browser
/// refuse any markup sink at run time, beside the unit test that finds none in the scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'";

/// Each page and asset: its path, content type and text.
const FILES: [(&str, &str, &str); 7] = [
    (CONSOLE_PATH, "text/html; charset=utf-8", include_str!("../assets/console.html")),
    (DEMO_PATH, "text/html; charset=utf-8", include_str!("../assets/demo.html")),
    ("/_local/assets/style.css", "text/css; charset=utf-8", include_str!("../assets/style.css")),
    ("/_local/assets/common.js", "text/javascript", include_str!("../assets/common.js")),
    ("/_local/assets/console.js", "text/javascript", include_str!("../assets/console.js")),
    ("/_local/assets/demo.js", "text/javascript", include_str!("../assets/demo.js")),
    ("/favicon.ico", "image/svg+xml", include_str!("../assets/favicon.svg")),
];

/// The page or asset at `path`, if there is one.
pub fn file(path: &str) -> Option<Response<Body>> {
    let (_, content_type, text) = FILES.iter().find(|(own, _, _)| *own == path)?;
    let mut response = Response::new(Body::Text((*text).to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_asset_is_served_with_the_policy_and_nothing_else_is() {
        for (path, content_type, _) in FILES {
            let response = file(path).unwrap_or_else(|| panic!("{path} is served"));
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        }
        assert!(file("/_local/assets/../../Cargo.toml").is_none());
        assert!(file("/_local/assets/").is_none());
    }

    #[test]
    fn pages_hold_no_inline_script_style_or_handler() {
        for (path, _, text) in FILES.iter().filter(|(_, kind, _)| kind.starts_with("text/html")) {
            let lower = text.to_ascii_lowercase();
            for script in lower.split("<script").skip(1) {
                let tag = &script[..script.find('>').expect("a closed tag")];
                assert!(tag.contains("src=\"/_local/assets/"), "{path}: inline script {tag}");
            }
            assert!(!lower.contains("<style"), "{path}: inline style");
            assert!(!lower.contains(" style="), "{path}: style attribute");
            let handler = lower.split(" on").skip(1).find(|rest| {
                let name = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
                name.len() < rest.len() && name.starts_with('=')
            });
            assert!(handler.is_none(), "{path}: event handler attribute on{handler:?}");
            assert!(!lower.contains("http://") && !lower.contains("https://"), "{path}: a CDN");
        }
    }

    #[test]
    fn scripts_write_text_never_markup() {
        for (path, _, text) in FILES.iter().filter(|(_, kind, _)| *kind == "text/javascript") {
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]
            {
                assert!(!text.contains(sink), "{path} uses {sink}");
            }
        }
    }
}
