//! Where a dataset came from, in `dataset.json` beside its `manifest.csv`: above all whether
//! its exams are synthetic, so that every model trained on it and every figure measured on it
//! can say so.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::manifest::DataError;

/// The file name, beside `manifest.csv`.
pub const DATASET_FILE: &str = "dataset.json";

/// `dataset.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// True when the exams are synthetic phantoms.
    pub synthetic: bool,
    /// What made the dataset (for synthetic data, the generator and its settings).
    pub source: String,
}

impl DatasetInfo {
    /// The description in folder `dir`, if there is one and it parses.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(DATASET_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the description into folder `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        let path = dir.join(DATASET_FILE);
        let text = serde_json::to_string_pretty(self).expect("dataset info serialises");
        cruciate_volume::atomic::write_atomically(&path, |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })
        .map_err(|source| DataError::Io { path, source })
    }

    /// True when the manifest folder `dir` is described as synthetic.
    pub fn is_synthetic(dir: &Path) -> bool {
        Self::read(dir).is_some_and(|d| d.synthetic)
    }
}
