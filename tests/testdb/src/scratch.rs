//! Uniquely named private directories under the system temporary directory.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::HarnessError;

/// Creates a new, empty directory `<temp_dir>/<prefix>-<pid>-<n>-<nonce>`
/// with mode 0700. The name is unique across threads and processes; creation
/// is exclusive, so a clash is detected and retried.
pub(crate) fn create_unique_dir(prefix: &str) -> Result<PathBuf, HarnessError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let mut last_error = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!("{prefix}-{}-{n}-{nonce:x}", std::process::id()));
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => {
                return Err(HarnessError::io(
                    format!("create directory {}", path.display()),
                    e,
                ));
            }
        }
    }
    Err(HarnessError::io(
        format!("create a unique directory {prefix}-* in {}", base.display()),
        last_error.unwrap_or_else(|| io::Error::other("too many name clashes")),
    ))
}
