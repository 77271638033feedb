//! An exam as acquired: every image series of a study, each with its plane, description and
//! geometry, and the choice of the series a model reads.
//!
//! A knee study holds several series (sagittal, coronal and axial; proton-density,
//! fat-suppressed, T1; a localiser). [`read_study`] finds them all: the series of a DICOM folder,
//! zip or list of files (grouped by SeriesInstanceUID, decoded only when chosen, so that a study
//! costs the memory of the series read, not of all of them), or several files of other formats
//! (MRNet's three `.npy` of a case, several NIfTI files, each one series). [`Study::choose`] then
//! picks the series for one plane by rules (the plane, not a localiser, a proton-density
//! fat-suppressed description, then the most slices), asking a caller's test of each candidate
//! in turn (the input gate's, where a model is known), and notes why every other series was
//! not read.

use std::path::{Path, PathBuf};

use crate::dicom::{self, Series, localiser_word, pd_fs_score};
use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::Plane;
use crate::options::ReadOptions;
use crate::read::read_path;
use crate::volume::{Format, Volume};

/// A caller's test of a candidate series: `Err(why)` passes over it.
pub type Accept<'a> = &'a mut dyn FnMut(&Volume) -> std::result::Result<(), String>;

/// Every image series of one exam.
#[derive(Debug, Clone)]
pub struct Study {
    /// Where it was read from.
    pub source: PathBuf,
    /// Its image series, in the order found.
    pub series: Vec<StudySeries>,
}

/// One series of a [`Study`]: what its headers say, and its voxels once read.
#[derive(Debug, Clone)]
pub struct StudySeries {
    /// SeriesInstanceUID for DICOM, else the file's path.
    pub uid: String,
    /// SeriesDescription (or NIfTI `descrip`), when there is one.
    pub description: Option<String>,
    /// The acquisition plane (ImageOrientationPatient, the NIfTI affine, MRNet's folder name).
    pub plane: Plane,
    /// The format it came in.
    pub format: Format,
    /// Slices, rows and columns.
    pub shape: [usize; 3],
    /// DICOM Modality, when given.
    pub modality: Option<String>,
    content: Content,
}

#[derive(Clone)]
enum Content {
    /// DICOM instances, decoded when the series is chosen.
    Dicom(Box<Series>),
    /// A volume already read (formats of one series per file).
    Read(Box<Volume>),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Content::Dicom(_) => "Dicom(..)",
            Content::Read(_) => "Read(..)",
        })
    }
}

impl StudySeries {
    pub(crate) fn of_dicom(series: Series) -> Self {
        let [rows, cols] = series.size();
        Self {
            uid: series.uid.clone(),
            description: series.description(),
            plane: series.plane(),
            format: Format::Dicom,
            shape: [series.frame_count(), rows, cols],
            modality: series.modality(),
            content: Content::Dicom(Box::new(series)),
        }
    }

    fn of_volume(volume: Volume) -> Self {
        Self {
            uid: volume.meta.path.clone(),
            description: volume.meta.series_description.clone(),
            plane: volume.plane,
            format: volume.meta.format,
            shape: volume.shape,
            modality: volume.meta.modality.clone(),
            content: Content::Read(Box::new(volume)),
        }
    }

    /// The localiser word of its description, when it names one.
    pub fn localiser(&self) -> Option<String> {
        self.description.as_deref().and_then(localiser_word)
    }

    /// One line: the uid, description, plane and slices.
    pub fn summary(&self) -> String {
        let slices = self.shape[0];
        format!(
            "{} ({}, {}, {slices} slice{})",
            self.uid,
            self.description.as_deref().unwrap_or("no description"),
            self.plane,
            if slices == 1 { "" } else { "s" }
        )
    }

    /// How well it suits a model reading `plane`: the plane, not a localiser, a
    /// proton-density fat-suppressed description, then the most slices.
    fn preference(&self, plane: Plane) -> (bool, bool, u32, usize) {
        (
            self.plane == plane,
            self.localiser().is_none(),
            self.pd_fs_score(),
            self.shape[0],
        )
    }

    /// Why it ranks below a chosen series in `plane` whose description scores `score`.
    fn ranked_below(&self, plane: Plane, score: u32) -> String {
        match self.localiser() {
            Some(word) => format!("a {word} series"),
            None if self.plane != plane => format!("{} plane", self.plane),
            None if self.pd_fs_score() < score => "less like a PD fat-suppressed series".into(),
            None => "fewer slices".into(),
        }
    }

    fn pd_fs_score(&self) -> u32 {
        self.description.as_deref().map_or(0, pd_fs_score)
    }

    /// Its voxels, with `notes` added to the volume's.
    fn read(self, source: &Path, notes: Vec<String>) -> Result<Volume> {
        match self.content {
            Content::Dicom(series) => dicom::assemble(*series, notes, source),
            Content::Read(volume) => {
                let mut volume = *volume;
                volume.meta.notes.extend(notes);
                Ok(volume)
            }
        }
    }
}

impl Study {
    /// A study of volumes already read, one series each (an exam's planes decoded once and
    /// kept, read again by the models of several findings).
    pub fn of_read(source: PathBuf, volumes: Vec<Volume>) -> Study {
        Study {
            source,
            series: volumes.into_iter().map(StudySeries::of_volume).collect(),
        }
    }

    /// The study as a model of one plane sees it: a copy holding only the series of `plane`
    /// (none decoded; DICOM series keep their parsed instances), for several models reading one
    /// study.
    pub fn of_plane(&self, plane: Plane) -> Study {
        Study {
            source: self.source.clone(),
            series: self
                .series
                .iter()
                .filter(|s| s.plane == plane)
                .cloned()
                .collect(),
        }
    }

    /// The planes its series were acquired in, each once, in the order found.
    pub fn planes(&self) -> Vec<Plane> {
        let mut planes = Vec::new();
        for s in &self.series {
            if !planes.contains(&s.plane) {
                planes.push(s.plane);
            }
        }
        planes
    }

    /// The most suitable series of `plane` (as [`Study::choose`] ranks them), or an error naming
    /// the series there are when the study has none of that plane: for a model of one plane,
    /// which must not be given another.
    pub fn read_plane(self, plane: Plane) -> Result<Volume> {
        if !self.series.iter().any(|s| s.plane == plane) {
            let have: Vec<String> = self.series.iter().map(StudySeries::summary).collect();
            return Err(ReadError::new(
                &self.source,
                ErrorKind::Empty(format!("no {plane} series; found: {}", have.join("; "))),
            ));
        }
        self.choose(plane, None, &mut |_| Ok(()))
    }

    /// The series to read for a model reading `plane`: the one named `series_uid` when given;
    /// else the candidates in order of preference (the plane, not a localiser, a PD
    /// fat-suppressed description, the most slices), each read and put to `accept`, the first
    /// accepted taken; when none is, the most preferred one that could be read (so that the
    /// caller's reasons reach the user). The volume's notes say what was read and why each
    /// other series was not.
    pub fn choose(self, plane: Plane, series_uid: Option<&str>, accept: Accept) -> Result<Volume> {
        let Study { source, mut series } = self;
        if let Some(uid) = series_uid {
            let Some(i) = series.iter().position(|s| s.uid == uid) else {
                let have: Vec<String> = series.iter().map(StudySeries::summary).collect();
                return Err(ReadError::new(
                    &source,
                    ErrorKind::Empty(format!("no series {uid}; found: {}", have.join("; "))),
                ));
            };
            return series.swap_remove(i).read(&source, Vec::new());
        }
        let count = series.len();
        // Among equals the last found wins, as the reader has always chosen.
        series.reverse();
        series.sort_by_key(|s| std::cmp::Reverse(s.preference(plane)));
        let mut passed: Vec<(String, String)> = Vec::new();
        let mut fallback: Option<(Volume, String, u32)> = None;
        let mut chosen = None;
        let mut first_error = None;
        let mut rest = series.into_iter();
        for candidate in rest.by_ref() {
            let (summary, score) = (candidate.summary(), candidate.pd_fs_score());
            match candidate.read(&source, Vec::new()) {
                Err(e) => {
                    passed.push((summary, format!("could not be read: {}", e.kind)));
                    first_error.get_or_insert(e);
                }
                Ok(volume) => match accept(&volume) {
                    Ok(()) => {
                        chosen = Some((volume, summary, score));
                        break;
                    }
                    Err(why) => {
                        if fallback.is_none() {
                            fallback = Some((volume, summary.clone(), score));
                        }
                        passed.push((summary, why));
                    }
                },
            }
        }
        let refused = chosen.is_none();
        let Some((mut volume, summary, score)) = chosen.or(fallback) else {
            return Err(first_error.expect("a study has at least one series"));
        };
        let mut notes = Vec::new();
        if count > 1 {
            notes.push(format!(
                "{count} series found; read {summary} (use --series UID to choose another)"
            ));
        }
        // A fallback's own refusal is for the caller to report, not a note of the reader.
        notes.extend(
            passed
                .into_iter()
                .filter(|(s, _)| !(refused && *s == summary))
                .map(|(s, why)| format!("not read: {s} ({why})")),
        );
        let read_plane = volume.plane;
        notes.extend(rest.map(|other| {
            format!(
                "not read: {} ({})",
                other.summary(),
                other.ranked_below(read_plane, score)
            )
        }));
        if read_plane != plane && volume.meta.format == Format::Dicom {
            notes.push(format!(
                "no {plane} series: read the {read_plane} series instead"
            ));
        }
        volume.meta.notes.extend(notes);
        Ok(volume)
    }
}

/// Reads every image series of the exam at `paths`: a DICOM folder, zip, file or list of files
/// (series decoded only when chosen), or one or more files of other formats, each one series
/// (MRNet's `sagittal/0001.npy coronal/0001.npy axial/0001.npy`); a folder without DICOM files
/// is read as the volume files below it.
pub fn read_study(paths: &[PathBuf], options: &ReadOptions) -> Result<Study> {
    match paths {
        [] => Err(ReadError::new(
            "",
            ErrorKind::Empty("no input files given".into()),
        )),
        [one] if one.is_dir() => {
            let files = dicom::folder_files(one, &options.limits)?;
            if files.is_empty() {
                return folder_of_volumes(one, options);
            }
            dicom::study_of(files, one)
        }
        [one] => {
            let named = dicom::instances(one, &options.limits)?;
            if named.is_empty() {
                return of_volumes(std::slice::from_ref(one), one, options);
            }
            dicom::study_of(named, one)
        }
        many => {
            let source = many[0].parent().unwrap_or(Path::new(".")).to_path_buf();
            let mut named = Vec::with_capacity(many.len());
            for path in many {
                let bytes =
                    std::fs::read(path).map_err(|e| ReadError::new(path, ErrorKind::Io(e)))?;
                if !dicom::is_dicom(&bytes) {
                    return of_volumes(many, &source, options);
                }
                named.push((path.clone(), bytes));
            }
            dicom::study_of(named, &source)
        }
    }
}

/// Each of `paths` read as one series.
fn of_volumes(paths: &[PathBuf], source: &Path, options: &ReadOptions) -> Result<Study> {
    let series = paths
        .iter()
        .map(|p| read_path(p, options).map(StudySeries::of_volume))
        .collect::<Result<Vec<_>>>()?;
    Ok(Study {
        source: source.to_path_buf(),
        series,
    })
}

/// The volume files (any format but DICOM) below `root`, each one series; files of no
/// volume format (notes, label tables) are passed over.
fn folder_of_volumes(root: &Path, options: &ReadOptions) -> Result<Study> {
    let mut series = Vec::new();
    for path in dicom::folder_paths(root, &options.limits)? {
        match read_path(&path, options) {
            Ok(volume) => series.push(StudySeries::of_volume(volume)),
            Err(e) if matches!(e.kind, ErrorKind::UnknownFormat(_)) => {
                tracing::debug!("skipped {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if series.is_empty() {
        return Err(ReadError::new(
            root,
            ErrorKind::Empty("no DICOM files or volumes in the folder".into()),
        ));
    }
    Ok(Study {
        source: root.to_path_buf(),
        series,
    })
}
