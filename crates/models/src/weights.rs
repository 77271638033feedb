//! Loading torchvision weights (`.pth` or `.safetensors`) into Cruciate's modules, through
//! burn-store's PyTorch adapter (linear weights transposed, batch-norm names mapped).
//!
//! Missing parameters and shape mismatches are one error that lists them all; keys the model
//! has no place for (torchvision's `classifier.*`, `fc.*`, `num_batches_tracked`) are ignored
//! and logged.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read as PyTorch or safetensors weights.
    #[error("{}: cannot read weights: {message}", path.display())]
    Read {
        /// The weights file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// The file does not fit the model.
    #[error("{}: weights do not fit the model: {problems}", path.display())]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// Missing keys and shape mismatches, `; `-separated.
        problems: String,
    },
}

/// What loading did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Parameters set from the file.
    pub applied: usize,
    /// Keys in the file that the model has no place for.
    pub ignored: Vec<String>,
}

/// Loads `path` into `module`, renaming keys with `remaps` (regex, replacement) first.
pub fn load_torchvision<M: Module + ModuleSnapshot>(
    module: &mut M,
    path: &Path,
    remaps: &[(String, String)],
) -> Result<LoadReport, WeightsError> {
    let read_err = |message: String| WeightsError::Read {
        path: path.to_path_buf(),
        message,
    };
    // The stores report shape mismatches as a failed validation of the whole file.
    let store_err = |message: String| match message.strip_prefix("Validation failed: ") {
        Some(problems) => WeightsError::Mismatch {
            path: path.to_path_buf(),
            problems: problems.replace('\n', " "),
        },
        None => read_err(message),
    };
    if !path.is_file() {
        return Err(read_err("no such file".into()));
    }
    let bytes_head = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    // safetensors: an 8-byte little-endian header length, then a JSON header.
    let is_safetensors = bytes_head.get(8) == Some(&b'{');
    let map_indices = remaps.is_empty();
    // Both stores take the same settings, through inherent (not trait) methods.
    macro_rules! configured {
        ($store:expr) => {
            remaps.iter().fold(
                $store
                    .allow_partial(true)
                    .map_indices_contiguous(map_indices),
                |store, (from, to)| store.with_key_remapping(from, to.clone()),
            )
        };
    }
    let result = if is_safetensors {
        let mut store =
            configured!(SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter));
        module
            .load_from(&mut store)
            .map_err(|e| store_err(e.to_string()))?
    } else {
        let mut store = configured!(PytorchStore::from_file(path));
        module
            .load_from(&mut store)
            .map_err(|e| store_err(e.to_string()))?
    };
    let mut problems: Vec<String> = result
        .missing
        .iter()
        .map(|(key, _)| format!("missing {key}"))
        .collect();
    problems.extend(result.errors.iter().map(|e| e.to_string()));
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch {
            path: path.to_path_buf(),
            problems: problems.join("; "),
        });
    }
    if !result.unused.is_empty() {
        tracing::info!(file = %path.display(), "ignored {} keys the model has no place for: {}", result.unused.len(), result.unused.join(", "));
    }
    Ok(LoadReport {
        applied: result.applied.len(),
        ignored: result.unused.clone(),
    })
}
