//! The state directory: the generated JWT secret and verification key, kept so that the
//! server, `otp-local token` and backends checking its tokens agree across restarts.
//!
//! The directory is its owner's alone (0700), each file too (0600), and a file is never
//! seen half-written: it is written under a temporary name and linked into place, which
//! fails when another process got there first (its file is used). A kept file that others
//! can read is refused, since whoever reads it can mint tokens the server accepts.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file can be read or written by others than its owner.
    #[error(
        "{path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`, or delete \
         it to have a new one made"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.display().to_string(), source }
}

/// The contents of `dir/name`, trimmed, made by `make` on first use.
pub fn kept(dir: &Path, name: &str, make: impl FnOnce() -> String) -> Result<String, StateError> {
    private_dir(dir)?;
    let path = dir.join(name);
    if let Some(kept) = read_private(&path)? {
        return Ok(kept);
    }
    let made = make();
    let temporary = temporary_path(dir, name);
    let written = write_new(&temporary, &made).map_err(io_error(&temporary));
    let linked = written.and_then(|()| match fs::hard_link(&temporary, &path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(io_error(&path)(error)),
    });
    let _ = fs::remove_file(&temporary);
    if linked? {
        return Ok(made.trim().to_owned());
    }
    // Another process made it first: theirs is used.
    read_private(&path)?.ok_or_else(|| io_error(&path)(io::ErrorKind::NotFound.into()))
}

/// Makes `dir` (0700) if missing, and takes group and other permissions off it if not.
fn private_dir(dir: &Path) -> Result<(), StateError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_error(dir))?;
    let mode = fs::metadata(dir).map_err(io_error(dir))?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, Permissions::from_mode(mode & 0o700)).map_err(io_error(dir))?;
    }
    Ok(())
}

/// The file's contents, trimmed, unless it is missing; refused when others can read it.
fn read_private(path: &Path) -> Result<Option<String>, StateError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StateError::Exposed { path: path.display().to_string(), mode });
    }
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    Ok(Some(text.trim().to_owned()))
}

fn temporary_path(dir: &Path, name: &str) -> PathBuf {
    let mut nonce = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let nonce: String = nonce.iter().map(|byte| format!("{byte:02x}")).collect();
    dir.join(format!(".{name}.{nonce}.tmp"))
}

fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
