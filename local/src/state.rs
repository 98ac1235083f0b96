//! The state directory: the generated JWT secret and verification key, kept so that the
//! server, `otp-local token` and backends checking its tokens agree across restarts.
//!
//! The directory is its owner's alone (0700), each file too (0600), and a file is never
//! seen half-written: it is written under a temporary name and linked into place, which
//! fails when another process got there first (its file is used). A kept file that others
//! can read is refused, since whoever reads it can mint tokens the server accepts; so is one
//! that is a symbolic link, not a regular file, or not the directory owner's, since such a
//! file may have been planted before the directory was closed.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// The file is a symbolic link, not a regular file, or another user's.
    #[error(
        "{path} is not a regular file of the state directory's owner (a symbolic link, or \
         another user's); delete it to have a new one made"
    )]
    Foreign {
        /// The file.
        path: String,
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
    let owner = private_dir(dir)?;
    let path = dir.join(name);
    if let Some(kept) = read_private(&path, owner)? {
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
    read_private(&path, owner)?.ok_or_else(|| io_error(&path)(io::ErrorKind::NotFound.into()))
}

/// Makes `dir` (0700) if missing, and takes group and other permissions off it if not;
/// returns its owner's user id. Another user's directory can be neither closed nor entered,
/// which stops the start, unless this process is root.
fn private_dir(dir: &Path) -> Result<u32, StateError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_error(dir))?;
    let metadata = fs::metadata(dir).map_err(io_error(dir))?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, Permissions::from_mode(mode & 0o700)).map_err(io_error(dir))?;
    }
    Ok(metadata.uid())
}

/// The file's contents, trimmed, unless it is missing. It is opened without following a
/// symbolic link (and without waiting, should it be a named pipe) and judged by the file
/// opened, so it cannot be swapped in between: refused unless it is a regular file of
/// `owner`'s (or root's, who could have written any file) that nobody else can read.
fn read_private(path: &Path, owner: u32) -> Result<Option<String>, StateError> {
    const ROOT: u32 = 0;
    let foreign = || StateError::Foreign { path: path.display().to_string() };
    let opened =
        OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => return Err(foreign()),
        Err(error) => return Err(io_error(path)(error)),
    };
    let metadata = file.metadata().map_err(io_error(path))?;
    if !metadata.is_file() || ![owner, ROOT].contains(&metadata.uid()) {
        return Err(foreign());
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StateError::Exposed { path: path.display().to_string(), mode });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_error(path))?;
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
