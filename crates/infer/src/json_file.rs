//! The small JSON files of a run folder (`run.json`, `domain.json`, `calibration.json`): read
//! when present, written whole or not at all.

use std::path::Path;

use serde::Serialize;

use crate::InferError;

/// The text of `path`, or `None` when there is no such file.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<String>, InferError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InferError::io(path, e)),
    }
}

/// The file at `path` parsed, or `None` when there is none; refused, with the way out, when
/// its `format(&value)` is newer than `supported` (a file written by a later build).
pub(crate) fn read_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    format: impl Fn(&T) -> u32,
    supported: u32,
) -> Result<Option<T>, InferError> {
    let Some(text) = read_if_present(path)? else {
        return Ok(None);
    };
    let value: T = serde_json::from_str(&text).map_err(|e| InferError::run(path, e.to_string()))?;
    let found = format(&value);
    if found > supported {
        return Err(InferError::run(
            path,
            format!("format {found} is newer than this build reads ({supported}): update Cruciate"),
        ));
    }
    Ok(Some(value))
}

/// Writes `value` as JSON (indented when `pretty`) to `path`, atomically.
pub(crate) fn write(path: &Path, value: &impl Serialize, pretty: bool) -> Result<(), InferError> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| InferError::Internal(e.to_string()))?;
    cruciate_volume::atomic::write_atomically(path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
    .map_err(|e| InferError::io(path, e))
}
