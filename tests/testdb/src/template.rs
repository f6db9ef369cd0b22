//! The cached, freshly `initdb`-ed cluster that every server copies.
//!
//! `initdb` takes about a second; copying its result takes a few
//! milliseconds. The template lives at
//! `<temp_dir>/tidepool-pg-template-<major>-<TEMPLATE_FORMAT>-uid<uid>` and is
//! built in a unique scratch directory and renamed into place, so concurrent
//! test processes never see a half-built template: the first rename wins and
//! the others discard their copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::binaries::PgBinaries;
use crate::error::HarnessError;
use crate::process::{self, ServerAccount};
use crate::scratch;

/// Part of the template directory name; bump it whenever the `initdb`
/// arguments change so stale templates are not reused.
pub(crate) const TEMPLATE_FORMAT: &str = "h1";

/// Returns the template data directory, creating it first if needed.
pub(crate) fn ensure_template(
    binaries: &PgBinaries,
    account: &ServerAccount,
) -> Result<PathBuf, HarnessError> {
    // One initdb per process at a time; other processes are handled by the
    // atomic rename below.
    static BUILDING: Mutex<()> = Mutex::new(());

    let template = std::env::temp_dir().join(format!(
        "tidepool-pg-template-{}-{TEMPLATE_FORMAT}-uid{}",
        binaries.major_version(),
        account.uid()
    ));
    if is_complete(&template) {
        return Ok(template);
    }
    let _guard = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if is_complete(&template) {
        return Ok(template);
    }

    let scratch = scratch::create_unique_dir("tidepool-pg-template-build")?;
    let result = build_into(binaries, account, &scratch, &template);
    let _ = fs::remove_dir_all(&scratch);
    result?;
    Ok(template)
}

fn build_into(
    binaries: &PgBinaries,
    account: &ServerAccount,
    scratch: &Path,
    template: &Path,
) -> Result<(), HarnessError> {
    account.give(scratch)?;
    let data = scratch.join("data");
    let mut initdb = account.command(binaries.initdb());
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    process::run(&mut initdb)?;
    match fs::rename(&data, template) {
        Ok(()) => Ok(()),
        // Another process renamed its template into place first.
        Err(_) if is_complete(template) => Ok(()),
        Err(e) => Err(HarnessError::io(
            format!(
                "move the new template cluster {} to {}",
                data.display(),
                template.display()
            ),
            e,
        )),
    }
}

/// A template is complete once it exists at all (it is renamed into place
/// fully built); `PG_VERSION` guards against an unrelated directory.
fn is_complete(template: &Path) -> bool {
    template.join("PG_VERSION").is_file()
}
