//! Slices and montages as 8-bit grey PNG, windowed for viewing.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::atomic::write_atomically;
use crate::stats::percentiles;
use crate::volume::Volume;

/// A display window: values `centre - width/2 ..= centre + width/2` map to black..white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Window centre (level).
    pub centre: f32,
    /// Window width (positive).
    pub width: f32,
}

impl Window {
    /// The window spanning the 1st to 99th percentile of `data` (unit width if flat).
    pub fn from_percentiles(data: &[f32]) -> Self {
        let [lo, hi] = percentiles(data, [1.0, 99.0]).unwrap_or([0.0, 1.0]);
        Self {
            centre: (lo + hi) / 2.0,
            width: (hi - lo).max(f32::EPSILON),
        }
    }

    /// Parses `C,W` as typed after `--window`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (c, w) = text
            .split_once(',')
            .ok_or("expected CENTRE,WIDTH such as 400,800")?;
        let centre: f32 = c
            .trim()
            .parse()
            .map_err(|_| format!("centre {c:?} is not a number"))?;
        let width: f32 = w
            .trim()
            .parse()
            .map_err(|_| format!("width {w:?} is not a number"))?;
        if !(centre.is_finite() && width.is_finite() && width > 0.0) {
            return Err("window width must be a positive number".into());
        }
        Ok(Self { centre, width })
    }

    /// `v` as an 8-bit grey level.
    pub fn apply(&self, v: f32) -> u8 {
        let t = (v - (self.centre - self.width / 2.0)) / self.width;
        if t.is_nan() {
            0
        } else {
            (t.clamp(0.0, 1.0) * 255.0).round() as u8
        }
    }
}

/// An 8-bit grey picture.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major pixels.
    pub pixels: Vec<u8>,
}

/// Why export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The slices asked for are not all in the exam.
    #[error("slices {}..{} run past the exam's {slices} slices", range.start, range.end)]
    SliceRange {
        /// The slices asked for.
        range: Range<usize>,
        /// The exam's slice count.
        slices: usize,
    },
    /// The output could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
}

/// Slice `s` of `volume` windowed to 8 bits, or `None` past the last slice.
pub fn slice_image(volume: &Volume, s: usize, window: Window) -> Option<GreyImage> {
    let slice = volume.slice(s)?;
    Some(GreyImage {
        width: volume.cols(),
        height: volume.rows(),
        pixels: slice.iter().map(|&v| window.apply(v)).collect(),
    })
}

/// The slices `range` tiled left to right, top to bottom, in a grid `columns` wide.
pub fn montage(volume: &Volume, window: Window, columns: usize, range: Range<usize>) -> GreyImage {
    let count = range.len();
    let columns = columns.clamp(1, count.max(1));
    let grid_rows = count.div_ceil(columns);
    let (h, w) = (volume.rows(), volume.cols());
    let width = columns * w;
    let mut pixels = vec![0u8; grid_rows * h * width];
    for (k, s) in range.enumerate() {
        let Some(img) = slice_image(volume, s, window) else {
            continue;
        };
        let (gy, gx) = (k / columns, k % columns);
        for r in 0..h {
            let at = (gy * h + r) * width + gx * w;
            pixels[at..at + w].copy_from_slice(&img.pixels[r * w..(r + 1) * w]);
        }
    }
    GreyImage {
        width,
        height: grid_rows * h,
        pixels,
    }
}

/// How PNG pixels are laid out: one grey byte or three RGB bytes per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngColour {
    /// 8-bit grey.
    Grey,
    /// 8-bit red, green, blue.
    Rgb,
    /// 8-bit red, green, blue and opacity.
    Rgba,
}

/// Encodes 8-bit `pixels` (`height` rows of `width`) as a PNG stream into `writer`: the one
/// PNG encoder of the workspace, used for slices, overlays and report images alike.
pub fn encode_png(
    writer: impl std::io::Write,
    width: usize,
    height: usize,
    colour: PngColour,
    pixels: &[u8],
) -> std::io::Result<()> {
    let mut encoder = png::Encoder::new(writer, width as u32, height as u32);
    encoder.set_color(match colour {
        PngColour::Grey => png::ColorType::Grayscale,
        PngColour::Rgb => png::ColorType::Rgb,
        PngColour::Rgba => png::ColorType::Rgba,
    });
    encoder.set_depth(png::BitDepth::Eight);
    let mut w = encoder.write_header().map_err(std::io::Error::other)?;
    w.write_image_data(pixels).map_err(std::io::Error::other)?;
    w.finish().map_err(std::io::Error::other)
}

/// Writes a PNG at `path`; no half-written file is ever left under that name.
pub fn save_png(
    path: &Path,
    width: usize,
    height: usize,
    colour: PngColour,
    pixels: &[u8],
) -> std::io::Result<()> {
    write_atomically(path, |writer| {
        encode_png(writer, width, height, colour, pixels)
    })
}

/// Writes `image` as a PNG at `path`; no half-written file is ever left under that name.
pub fn write_png(path: &Path, image: &GreyImage) -> Result<(), ExportError> {
    save_png(
        path,
        image.width,
        image.height,
        PngColour::Grey,
        &image.pixels,
    )
    .map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What [`export_volume`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// One PNG per slice, in slice order.
    pub slices: Vec<PathBuf>,
    /// The montage of all slices.
    pub montage: PathBuf,
    /// The window used.
    pub window: Window,
}

/// Writes the slices `range` (every slice when `None`) as `slice_NNN.png`, numbered as in the
/// exam, and together as `montage.png` into `out_dir`. The window defaults to the whole exam's
/// 1st to 99th percentile, so that a part looks as it does in the whole.
pub fn export_volume(
    volume: &Volume,
    out_dir: &Path,
    window: Option<Window>,
    range: Option<Range<usize>>,
) -> Result<ExportSummary, ExportError> {
    let range = range.unwrap_or(0..volume.slices());
    if range.end > volume.slices() {
        return Err(ExportError::SliceRange {
            range,
            slices: volume.slices(),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|source| ExportError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let window = window.unwrap_or_else(|| Window::from_percentiles(&volume.data));
    let mut slices = Vec::with_capacity(range.len());
    for s in range.clone() {
        let path = out_dir.join(format!("slice_{s:03}.png"));
        if let Some(img) = slice_image(volume, s, window) {
            write_png(&path, &img)?;
            slices.push(path);
        }
    }
    let columns = (range.len() as f64).sqrt().ceil() as usize;
    let montage_path = out_dir.join("montage.png");
    write_png(&montage_path, &montage(volume, window, columns, range))?;
    Ok(ExportSummary {
        slices,
        montage: montage_path,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Format, SourceMetadata};

    fn ramp(shape: [usize; 3]) -> Volume {
        let n = shape.iter().product::<usize>();
        Volume::new(
            (0..n).map(|v| v as f32).collect(),
            shape,
            SourceMetadata::new(Format::Memory, "ramp"),
        )
        .unwrap()
    }

    #[test]
    fn windows_map_to_the_8_bit_range() {
        let w = Window::parse("100, 200").unwrap();
        assert_eq!(
            (w.apply(0.0), w.apply(100.0), w.apply(200.0), w.apply(1e9)),
            (0, 128, 255, 255)
        );
        assert_eq!(w.apply(f32::NAN), 0);
        assert!(Window::parse("100").is_err());
        assert!(Window::parse("1,-5").is_err());
        assert!(Window::parse("a,5").is_err());
    }

    #[test]
    fn montage_tiles_slices_in_reading_order() {
        let v = ramp([3, 2, 2]);
        let m = montage(
            &v,
            Window {
                centre: 5.5,
                width: 11.0,
            },
            2,
            0..3,
        );
        assert_eq!((m.width, m.height), (4, 4));
        // Slice 1 (values 4..8) sits top right; the unused bottom-right tile stays black.
        assert_eq!(
            m.pixels[2],
            Window {
                centre: 5.5,
                width: 11.0
            }
            .apply(4.0)
        );
        assert_eq!(m.pixels[15], 0);
    }

    #[test]
    fn export_writes_one_png_per_slice_and_a_montage() {
        let dir = tempfile::tempdir().unwrap();
        let v = ramp([4, 3, 5]);
        let part = export_volume(&v, dir.path(), None, Some(1..3)).unwrap();
        assert_eq!(
            part.slices,
            [
                dir.path().join("slice_001.png"),
                dir.path().join("slice_002.png")
            ]
        );
        let e = export_volume(&v, dir.path(), None, Some(2..5)).unwrap_err();
        assert_eq!(e.to_string(), "slices 2..5 run past the exam's 4 slices");
        let summary = export_volume(&v, dir.path(), None, None).unwrap();
        assert_eq!(summary.slices.len(), 4);
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&summary.montage).unwrap(),
        ));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (10, 6));
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".partial"))
        );
    }
}
