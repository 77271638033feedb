//! Pictures of explanations: a heat map over a grey slice, and a strip of per-slice shares.

use std::path::Path;

/// An 8-bit RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major RGB triples.
    pub pixels: Vec<u8>,
}

/// The "jet" colour of `t` in 0..1 (blue, cyan, yellow, red), the convention of CAM figures.
pub fn jet(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let channel =
        |centre: f32| ((1.5 - (4.0 * t - centre).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

/// `grey` (0..255, `height x width`) with `heat` (0..1, same size) blended on top: weight
/// `0.6 * heat`, so that cold regions keep the anatomy visible.
pub fn overlay(grey: &[u8], heat: &[f32], width: usize, height: usize) -> RgbImage {
    let pixels = grey
        .iter()
        .zip(heat)
        .flat_map(|(&g, &h)| {
            let alpha = 0.6 * h.clamp(0.0, 1.0);
            let colour = jet(h);
            colour.map(|c| ((1.0 - alpha) * f32::from(g) + alpha * f32::from(c)).round() as u8)
        })
        .collect();
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// A horizontal strip, one bar per slice, bar height proportional to its share (largest = full).
pub fn importance_strip(shares: &[f64], bar_width: usize, height: usize) -> RgbImage {
    let width = shares.len() * bar_width;
    let top = shares
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut pixels = vec![255u8; width * height * 3];
    for (s, share) in shares.iter().enumerate() {
        let bar = ((share / top) * height as f64).round() as usize;
        let colour = jet((share / top) as f32);
        for y in height - bar.min(height)..height {
            for x in s * bar_width..(s + 1) * bar_width - 1 {
                pixels[(y * width + x) * 3..(y * width + x) * 3 + 3].copy_from_slice(&colour);
            }
        }
    }
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// Writes `image` as a PNG, atomically.
pub fn write_rgb_png(path: &Path, image: &RgbImage) -> std::io::Result<()> {
    cruciate_volume::atomic::write_atomically(path, |w| {
        let mut encoder = png::Encoder::new(w, image.width as u32, image.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&image.pixels)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_runs_blue_to_red_and_overlay_keeps_cold_pixels_grey() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        let img = overlay(&[100, 100], &[0.0, 1.0], 2, 1);
        assert_eq!(&img.pixels[..3], &[100, 100, 100]);
        assert!(img.pixels[3] > img.pixels[5], "hot pixel is red");
        let strip = importance_strip(&[0.25, 0.75], 4, 10);
        assert_eq!((strip.width, strip.height), (8, 10));
        // Column 0 (share 1/3 of the top) is white at mid-height; column 4 (the top) is not.
        assert_eq!(
            &strip.pixels[(5 * 8) * 3..(5 * 8) * 3 + 3],
            &[255, 255, 255]
        );
        assert_ne!(
            &strip.pixels[(5 * 8 + 4) * 3..(5 * 8 + 4) * 3 + 3],
            &[255, 255, 255]
        );
    }
}
