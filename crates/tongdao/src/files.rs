//! Files holding secrets: created with mode 0600 (owner read/write only) from the first
//! byte, never widened afterwards.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Writes `contents` plus a newline to `path`, replacing it atomically, mode 0600.
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    write_private(path, format!("{contents}\n").as_bytes())
}

/// Writes `bytes` to `path` readable by the owner only (mode 0600), through a temporary
/// file renamed into place, so a reader never sees half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The first line of a secret file, if the file exists.
pub fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().next().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Creates the data directory (mode 0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    Ok(())
}

use std::os::unix::fs::DirBuilderExt;
