//! Test support: finding the shared fixture files.
//!
//! Tests that need a fixture call [`fixture`]; it returns `None` (the test skips, and says
//! so on stderr) only when `CRUCIATE_FIXTURES` is unset, and panics (the test fails) when the
//! variable is set and the file is missing.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture folder named by `CRUCIATE_FIXTURES`, resolved against the workspace root when
/// relative; `None` when the variable is unset.
pub fn fixtures_root() -> Option<PathBuf> {
    let value = std::env::var_os("CRUCIATE_FIXTURES")?;
    let path = PathBuf::from(value);
    Some(if path.is_absolute() {
        path
    } else {
        workspace_root().join(path)
    })
}

/// The fixture at `relative` below the fixture folder.
///
/// # Panics
/// When `CRUCIATE_FIXTURES` is set and the file is missing: the test must fail, not skip.
pub fn fixture(relative: &str) -> Option<PathBuf> {
    let Some(root) = fixtures_root() else {
        eprintln!("skipped: CRUCIATE_FIXTURES is unset (needs {relative})");
        return None;
    };
    let path = root.join(relative);
    assert!(
        path.exists(),
        "fixture {} is missing (CRUCIATE_FIXTURES={})",
        path.display(),
        root.display()
    );
    Some(path)
}
