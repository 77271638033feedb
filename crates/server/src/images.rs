//! The pictures the viewer shows, made from an analysis folder: a slice windowed to 8-bit grey,
//! and the explanation's heat as a translucent colour layer to lay over it (or burned into the
//! slice with the notices, for export).

use std::path::{Path, PathBuf};

use cruciate_data::Finding;
use cruciate_volume::Plane;

use cruciate_volume::export::{GreyImage, PngColour, Window, encode_png};
use cruciate_volume::heat::{RgbImage, heat_figure, jet};

use crate::analysis::{AnalysisFiles, AnalysisResult, ExamSummary, NOT_FOR_DIAGNOSIS};

/// Why a picture cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The exam has no such slice.
    #[error("slice {0} does not exist (the exam has {1})")]
    NoSlice(usize, usize),
    /// The model gave no heat map.
    #[error("this model gives no heat map")]
    NoHeat,
    /// The result has no such plane or finding.
    #[error("{0}")]
    NoView(String),
    /// The stored files do not match their description.
    #[error("stored analysis is damaged: {0}")]
    Damaged(String),
}

/// One slice of an analysed exam: its voxels and, when the model explains, its heat.
pub struct SliceData {
    /// Rows and columns.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Voxel values.
    pub values: Vec<f32>,
    /// Heat 0..255, when there is one.
    pub heat: Option<Vec<u8>>,
    /// The window of the whole exam (1st to 99th percentile).
    pub auto_window: Window,
}

/// Reads bytes `[offset, offset + len)` of `path`, exactly.
fn read_range(path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut out = vec![0; len];
    file.read_exact(&mut out)?;
    Ok(out)
}

/// Which series and which finding's heat a picture is of: a reading's plane and finding, the
/// result's headline (its first) where not named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    /// The plane's series.
    pub plane: Option<Plane>,
    /// The finding whose heat is laid over it.
    pub finding: Option<Finding>,
}

/// The voxels' file, the heat's file and the series' summary of `view` of the analysis in
/// `files` (described by `result`).
fn view_files<'r>(
    files: &AnalysisFiles,
    result: &'r AnalysisResult,
    view: View,
) -> Result<(PathBuf, PathBuf, &'r ExamSummary), ImageError> {
    let plane = view.plane.unwrap_or(result.exam.plane);
    let finding = view.finding.unwrap_or(result.model.finding);
    if result.planes.is_empty() || view == View::default() {
        if plane != result.exam.plane || finding != result.model.finding {
            return Err(ImageError::NoView(format!(
                "this result is of the {} on the {} series alone",
                result.model.finding.describe(),
                result.exam.plane
            )));
        }
        return Ok((files.volume(), files.heat(), &result.exam));
    }
    let series = result
        .planes
        .iter()
        .find(|p| p.plane == plane)
        .ok_or_else(|| ImageError::NoView(format!("this exam has no {plane} series read")))?;
    if !result.findings.iter().any(|f| f.finding == finding) {
        return Err(ImageError::NoView(format!(
            "this reading does not read {}",
            finding.describe()
        )));
    }
    Ok((
        files.plane_volume(plane),
        files.plane_heat(finding, plane),
        &series.exam,
    ))
}

/// Reads slice `n` of `view` of the analysis in `dir` (described by `result`): only that
/// slice's bytes of the voxels and the heat, so that a slice of a large exam costs a slice's
/// memory; the window is the series' own, from `result.json`.
pub fn load_slice(
    dir: &Path,
    result: &AnalysisResult,
    view: View,
    n: usize,
) -> Result<SliceData, ImageError> {
    let files = AnalysisFiles {
        dir: dir.to_path_buf(),
    };
    let (volume, heat_file, exam) = view_files(&files, result, view)?;
    let [slices, rows, cols] = exam.shape;
    if n >= slices {
        return Err(ImageError::NoSlice(n, slices));
    }
    let per = rows * cols;
    let damaged = |what: &str, e: std::io::Error| ImageError::Damaged(format!("{what}: {e}"));
    let expected = (slices * per * 4) as u64;
    let size = std::fs::metadata(&volume)
        .map_err(|e| damaged("volume.f32", e))?
        .len();
    if size != expected {
        return Err(ImageError::Damaged(format!(
            "volume.f32 holds {size} bytes, expected {expected}"
        )));
    }
    let bytes =
        read_range(&volume, (n * per * 4) as u64, per * 4).map_err(|e| damaged("volume.f32", e))?;
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let heat = match std::fs::metadata(&heat_file) {
        Ok(m) if m.len() == (slices * per) as u64 => {
            Some(read_range(&heat_file, (n * per) as u64, per).map_err(|e| damaged("heat.u8", e))?)
        }
        Ok(_) => {
            return Err(ImageError::Damaged(
                "heat.u8 does not match the volume".into(),
            ));
        }
        Err(_) => None,
    };
    let [low, high] = exam.intensity_range;
    Ok(SliceData {
        rows,
        cols,
        auto_window: Window {
            centre: (low + high) / 2.0,
            width: (high - low).max(f32::EPSILON),
        },
        values,
        heat,
    })
}

fn png(width: usize, height: usize, colour: PngColour, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_png(&mut out, width, height, colour, pixels).expect("PNG into memory");
    out
}

impl SliceData {
    fn grey(&self, window: Option<Window>) -> GreyImage {
        let w = window.unwrap_or(self.auto_window);
        GreyImage {
            width: self.cols,
            height: self.rows,
            pixels: self.values.iter().map(|&v| w.apply(v)).collect(),
        }
    }

    /// The slice as 8-bit grey PNG, windowed (the exam's 1-99 % window by default).
    pub fn slice_png(&self, window: Option<Window>) -> Vec<u8> {
        let g = self.grey(window);
        png(g.width, g.height, PngColour::Grey, &g.pixels)
    }

    /// The heat as an RGBA PNG: jet colours, opacity growing with the heat; the coldest tenth is
    /// clear, so that only where the model looked is tinted.
    pub fn heat_png(&self) -> Result<Vec<u8>, ImageError> {
        let heat = self.heat.as_ref().ok_or(ImageError::NoHeat)?;
        let pixels: Vec<u8> = heat
            .iter()
            .flat_map(|&h| {
                let t = f32::from(h) / 255.0;
                let [r, g, b] = jet(t);
                let alpha = ((t - 0.1) / 0.9).clamp(0.0, 1.0).powf(0.7) * 220.0;
                [r, g, b, alpha as u8]
            })
            .collect();
        Ok(png(self.cols, self.rows, PngColour::Rgba, &pixels))
    }

    /// The slice with the heat (when there is one) burned in and the notices written above
    /// it.
    pub fn burned_figure(
        &self,
        window: Option<Window>,
        caption: &str,
        synthetic: bool,
    ) -> RgbImage {
        let heat: Vec<f32> = match &self.heat {
            Some(h) => h.iter().map(|&h| f32::from(h) / 255.0).collect(),
            None => vec![0.0; self.rows * self.cols],
        };
        let lines = vec![
            caption.to_string(),
            NOT_FOR_DIAGNOSIS.to_string(),
            cruciate_infer::run::model_notice(synthetic).to_string(),
        ];
        heat_figure(&self.grey(window), &heat, &lines)
    }

    /// The slice with the heat burned in and the notices written above it, as RGB PNG.
    pub fn burned_png(
        &self,
        window: Option<Window>,
        caption: &str,
        synthetic: bool,
    ) -> Result<Vec<u8>, ImageError> {
        if self.heat.is_none() {
            return Err(ImageError::NoHeat);
        }
        let figure = self.burned_figure(window, caption, synthetic);
        Ok(png(
            figure.width,
            figure.height,
            PngColour::Rgb,
            &figure.pixels,
        ))
    }
}
