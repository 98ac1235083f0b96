//! `otp-local`: the OTP API on localhost, and a helper that mints tokens it accepts.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use otp_local::{INBOX_PATH, LocalServer, OPENAPI_PATH};
use otp_shared::config::Settings;
use otp_shared::http::{Api, Endpoint};
use otp_shared::jwt::{self, JwtSettings, JwtVerifier};
use otp_shared::otp::OtpService;
use otp_shared::otp::ports::{Clock, RandomSource};
use otp_shared::sms::Inbox;
use otp_shared::store::MemoryStore;
use otp_shared::system::{OsRandom, SystemClock};
use tokio::net::TcpListener;

/// The OTP API on localhost: in-memory store, SMS printed and kept in an inbox.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Where the generated JWT secret is kept, so that `token` and the server agree.
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let lookup = local_environment(&cli.state_dir)?;
    match cli.command {
        Some(Command::Token { sub, ttl_seconds }) => {
            let settings = JwtSettings::from_lookup(&lookup)?;
            let token = jwt::mint(&settings, &sub, SystemClock.now(), ttl_seconds)
                .ok_or("`token` signs with JWT_SECRET; unset JWT_PUBLIC_KEY and JWT_JWKS_URL")?;
            println!("{token}");
            Ok(())
        }
        None => serve(cli.port, Settings::from_lookup(&lookup)?).await,
    }
}

async fn serve(port: u16, settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    otp_shared::telemetry::init_local();
    let inbox = Inbox::echoing();
    let otp = OtpService::new(
        MemoryStore::new(),
        inbox.clone(),
        SystemClock,
        OsRandom,
        settings.policy,
        settings.hash_key,
    );
    let jwt = JwtVerifier::new(&settings.jwt).await?;
    let server = Arc::new(LocalServer::new(Api::new(jwt, otp), inbox));
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let address = listener.local_addr()?;
    println!("otp-local listening on http://{address}");
    for endpoint in Endpoint::ALL {
        println!("  POST http://{address}{}", endpoint.path());
    }
    println!("  GET  http://{address}{INBOX_PATH}");
    println!("  GET  http://{address}{OPENAPI_PATH}");
    println!("Mint a token with: cargo run -q -p otp-local -- token --sub alice");
    io::stdout().flush()?;
    tokio::select! {
        result = server.serve(listener) => result?,
        _ = tokio::signal::ctrl_c() => println!("otp-local stopped"),
    }
    Ok(())
}

/// The process environment, with the two secrets filled in when unset: a JWT secret from the
/// state directory (generated there on first use) when no JWT key source is configured, and
/// a hash key fresh for this process.
fn local_environment(state_dir: &Path) -> io::Result<impl Fn(&str) -> Option<String>> {
    let mut defaults = HashMap::new();
    let key_sources = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"];
    if key_sources.iter().all(|name| std::env::var_os(name).is_none()) {
        defaults.insert("JWT_SECRET", local_jwt_secret(state_dir)?);
    }
    defaults.insert("OTP_HASH_KEY", OsRandom.identifier() + &OsRandom.identifier());
    Ok(move |name: &str| std::env::var(name).ok().or_else(|| defaults.get(name).cloned()))
}

/// The secret in `state_dir/jwt-secret`, created (readable by its owner only) if missing.
fn local_jwt_secret(state_dir: &Path) -> io::Result<String> {
    let path = state_dir.join("jwt-secret");
    if let Ok(secret) = fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    fs::create_dir_all(state_dir)?;
    let secret = OsRandom.identifier() + &OsRandom.identifier();
    match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Ok(fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(error) => Err(error),
    }
}
