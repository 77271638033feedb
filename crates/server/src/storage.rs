//! Where an exam's files live under the data folder:
//!
//! ```text
//! DATA/exams/ID/upload.EXT     the file as uploaded (a DICOM upload: `upload/`, de-identified)
//! DATA/exams/ID/decoded/       the volume the probe read (volume.f32, volume.json)
//! DATA/exams/ID/attempt-N/     an analysis in progress
//! DATA/exams/ID/result/        the published analysis (result.json, volume.f32, heat.u8)
//! ```

use std::path::{Path, PathBuf};

/// The files of one exam.
pub struct ExamFiles {
    /// `DATA/exams/ID`.
    pub dir: PathBuf,
}

impl ExamFiles {
    /// The files of exam `id` under `data`.
    pub fn new(data: &Path, id: &str) -> Self {
        Self {
            dir: data.join("exams").join(id),
        }
    }

    /// Where an upload with file name `filename` is kept: `upload` plus its extension, letters
    /// and digits only (the readers go by content; the extension only makes messages clearer).
    pub fn upload_path(&self, filename: &str) -> PathBuf {
        let name = filename.to_ascii_lowercase();
        let ext = if name.ends_with(".nii.gz") {
            "nii.gz".to_string()
        } else {
            Path::new(&name)
                .extension()
                .map(|e| {
                    e.to_string_lossy()
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .take(8)
                        .collect()
                })
                .unwrap_or_default()
        };
        if ext.is_empty() {
            self.dir.join("upload")
        } else {
            self.dir.join(format!("upload.{ext}"))
        }
    }

    /// The uploaded file, if it is there.
    pub fn upload(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("upload"))
            })
    }

    /// The volume the probe read ([`crate::decoded`]).
    pub fn decoded(&self) -> PathBuf {
        self.dir.join("decoded")
    }

    /// The folder of attempt `n`.
    pub fn attempt(&self, n: i64) -> PathBuf {
        self.dir.join(format!("attempt-{n}"))
    }

    /// The published analysis.
    pub fn result(&self) -> PathBuf {
        self.dir.join("result")
    }

    /// Makes the finished attempt in `work` the published analysis (replacing an earlier one).
    pub fn publish(&self, work: &Path) -> std::io::Result<()> {
        let result = self.result();
        if result.exists() {
            std::fs::remove_dir_all(&result)?;
        }
        std::fs::rename(work, &result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_keep_a_clean_extension_inside_their_folder() {
        let f = ExamFiles::new(Path::new("/d"), "abc");
        assert_eq!(
            f.upload_path("Knee.NII.GZ"),
            Path::new("/d/exams/abc/upload.nii.gz")
        );
        assert_eq!(
            f.upload_path("../../etc/passwd"),
            Path::new("/d/exams/abc/upload")
        );
        assert_eq!(
            f.upload_path("a.z$ip"),
            Path::new("/d/exams/abc/upload.zip")
        );
        assert_eq!(f.attempt(2), Path::new("/d/exams/abc/attempt-2"));
    }
}
