//! Where a training run keeps its networks' records: `checkpoint/model-E.bpk`, one per kept
//! epoch. Training writes and prunes them; runs from before `run.json` are opened from them.

use std::path::Path;

/// The epochs that have a model record in the checkpoint folder `directory`, ascending (none
/// when the folder cannot be read).
pub fn model_epochs(directory: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut epochs: Vec<usize> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs
}
