//! `otp-local`: the OTP API on localhost, and a helper that mints tokens it accepts.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand};
use otp_local::console::DEMO_PATH;
use otp_local::feed::AuditFeed;
use otp_local::state::{StateError, kept};
use otp_local::{INBOX_PATH, JWKS_PATH, LocalServer, OPENAPI_PATH};
use otp_shared::config::Settings;
use otp_shared::http::{Api, Endpoint};
use otp_shared::jwt::{self, JwtSettings};
use otp_shared::otp::ports::{Clock, RandomSource};
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use otp_shared::telemetry::AUDIT;
use otp_shared::verification_token::ed25519_pkcs8;
use rand::RngCore;
use rand::rngs::OsRng;
use tokio::net::TcpListener;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;

/// The OTP API on localhost: in-memory store, SMS printed and kept in an inbox.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Where the generated JWT secret and verification key are kept, so that `token`, the
    /// server and backends checking its tokens agree across restarts.
    #[arg(long, env = "OTP_LOCAL_STATE_DIR", default_value = ".otp-local")]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a JWT that the server accepts.
    Token {
        /// The token's subject (the user id).
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("otp-local: {}", otp_shared::telemetry::sentence(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let (lookup, generated_secret) = local_environment(&cli.state_dir)?;
    match cli.command {
        Some(Command::Token { sub, ttl_seconds }) => {
            let settings = JwtSettings::from_lookup(&lookup)?;
            let token = jwt::mint(&settings, &sub, SystemClock.now(), ttl_seconds)
                .ok_or("`token` signs with JWT_SECRET; unset JWT_PUBLIC_KEY and JWT_JWKS_URL")?;
            println!("{token}");
            Ok(())
        }
        None => {
            // Before the settings, so that what they warn about is shown.
            let feed = AuditFeed::new();
            let audit_only = Targets::new().with_target(AUDIT, LevelFilter::TRACE);
            otp_shared::telemetry::init_local_with(feed.layer().with_filter(audit_only));
            let settings = Settings::from_lookup(&lookup)?;
            otp_shared::config::check_without_aws(&lookup)?;
            serve(cli.port, settings, feed, generated_secret).await
        }
    }
}

/// Serves the API, the console and the demo page on `port`. The pages mint development
/// tokens only with a JWT secret otp-local generated itself (`generated_secret`): one given in
/// the environment may be shared with other services, and a local process that can reach
/// the port must not get tokens signed with it.
async fn serve(
    port: u16,
    settings: Settings,
    feed: AuditFeed,
    generated_secret: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let inbox = Inbox::echoing();
    let store = MemoryStore::new();
    let minting = generated_secret.then(|| settings.jwt.clone());
    let api = Api::from_settings(settings, store.clone(), inbox.clone()).await?;
    let mut server = LocalServer::new(api, inbox, store).with_feed(feed);
    if let Some(jwt) = minting {
        server = server.with_token_minting(jwt);
    }
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let address = listener.local_addr()?;
    println!("otp-local listening on http://{address}");
    println!("  version {}", otp_shared::VERSION);
    println!("  Console:   http://{address}/");
    println!("  Demo page: http://{address}{DEMO_PATH}");
    for endpoint in Endpoint::ALL {
        println!("  POST http://{address}{}", endpoint.path());
    }
    println!("  GET  http://{address}{INBOX_PATH}");
    println!("  GET  http://{address}{OPENAPI_PATH}");
    println!("  GET  http://{address}{JWKS_PATH}");
    println!("Mint a token with: cargo run -q -p otp-local -- token --sub alice");
    io::stdout().flush()?;
    let server = Arc::new(server);
    tokio::select! {
        result = server.serve(listener) => result?,
        _ = tokio::signal::ctrl_c() => println!("otp-local stopped"),
    }
    Ok(())
}

/// The process environment, with the secrets filled in when unset: a JWT secret from the
/// state directory when no JWT key source is configured, an Ed25519 verification key from
/// there too (issuer `otp-local`), both generated on first use, and a hash key fresh for
/// this process; and whether the JWT secret is the generated one.
fn local_environment(
    state_dir: &Path,
) -> Result<(impl Fn(&str) -> Option<String>, bool), StateError> {
    let mut defaults = HashMap::new();
    let unset = |name: &str| std::env::var_os(name).is_none();
    let generated_secret =
        ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"].iter().all(|name| unset(name));
    if generated_secret {
        let secret = || OsRandom.identifier() + &OsRandom.identifier();
        defaults.insert("JWT_SECRET", kept(state_dir, "jwt-secret", secret)?);
    }
    if unset("VERIFICATION_TOKEN_PRIVATE_KEY") {
        let key = kept(state_dir, "verification-key.pem", ed25519_pem)?;
        defaults.insert("VERIFICATION_TOKEN_PRIVATE_KEY", key);
        defaults.insert("VERIFICATION_TOKEN_ISSUER", "otp-local".to_owned());
    }
    defaults.insert("OTP_HASH_KEY", OsRandom.identifier() + &OsRandom.identifier());
    let lookup = move |name: &str| std::env::var(name).ok().or_else(|| defaults.get(name).cloned());
    Ok((lookup, generated_secret))
}

/// A new Ed25519 private key, PKCS#8 PEM.
fn ed25519_pem() -> String {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let body = STANDARD.encode(ed25519_pkcs8(&seed));
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}
