//! Pictures of explanations: a heat map over an exam's own slice at native resolution, with a
//! colour bar and a caption (slice, class, probability, method) burned in, ready to save as
//! PNG, show in a browser or send to a PACS.

use std::path::Path;

use crate::export::{GreyImage, PngColour, encode_png, save_png};

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

impl RgbImage {
    /// An image filled with `colour`.
    pub fn filled(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Self {
            width,
            height,
            pixels: colour.repeat(width * height),
        }
    }

    /// Sets the pixel at `(x, y)`; pixels outside the image are ignored.
    pub fn put(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * 3;
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
    }

    /// Fills the rectangle `w x h` at `(x, y)` (clipped to the image).
    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, colour: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.put(xx, yy, colour);
            }
        }
    }

    /// Draws the outline of the rectangle `w x h` at `(x, y)`, `thickness` pixels wide (clipped).
    pub fn outline(
        &mut self,
        (x, y, w, h): (usize, usize, usize, usize),
        colour: [u8; 3],
        thickness: usize,
    ) {
        let t = thickness.max(1);
        self.fill(x, y, w, t, colour);
        self.fill(x, (y + h).saturating_sub(t), w, t, colour);
        self.fill(x, y, t, h, colour);
        self.fill((x + w).saturating_sub(t), y, t, h, colour);
    }

    /// Copies `other` in with its top-left corner at `(x, y)` (clipped).
    pub fn blit(&mut self, other: &RgbImage, x: usize, y: usize) {
        for yy in 0..other.height {
            for xx in 0..other.width {
                let at = (yy * other.width + xx) * 3;
                let mut c = [0u8; 3];
                c.copy_from_slice(&other.pixels[at..at + 3]);
                self.put(x + xx, y + yy, c);
            }
        }
    }

    /// Writes `text` (ASCII; other characters as `?`) with its top-left corner at `(x, y)`, in
    /// an 8x8 bitmap font magnified `scale` times.
    pub fn text(&mut self, x: usize, y: usize, text: &str, colour: [u8; 3], scale: usize) {
        let scale = scale.max(1);
        for (k, ch) in text.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY[if ch.is_ascii() {
                ch as usize
            } else {
                b'?' as usize
            }];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let (px, py) = (x + (k * 8 + col) * scale, y + row * scale);
                        self.fill(px, py, scale, scale, colour);
                    }
                }
            }
        }
    }

    /// The image as PNG bytes.
    pub fn to_png(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        encode_png(
            &mut out,
            self.width,
            self.height,
            PngColour::Rgb,
            &self.pixels,
        )?;
        Ok(out)
    }

    /// Writes the image as a PNG at `path`, atomically.
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        save_png(path, self.width, self.height, PngColour::Rgb, &self.pixels)
    }
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

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [20, 20, 20];

/// `text` broken at spaces into lines of at most `width` characters (a longer word stands on a
/// line of its own).
/// Lines a caption entry may take; past them it ends with "...".
const CAPTION_LINES: usize = 4;

/// `text` in lines of at most `width` characters (a word longer than a line is cut), at most
/// [`CAPTION_LINES`] of them: a caption never makes a figure wider or much taller than its
/// picture, whatever name it quotes.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(4);
    let mut lines: Vec<String> = Vec::new();
    let pieces = text.split_whitespace().flat_map(|word| {
        let chars: Vec<char> = word.chars().collect();
        chars
            .chunks(width)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
    });
    for word in pieces {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
        if lines.len() > CAPTION_LINES {
            lines.truncate(CAPTION_LINES);
            let last = &mut lines[CAPTION_LINES - 1];
            let kept: String = last.chars().take(width - 3).collect();
            *last = kept + "...";
            break;
        }
    }
    lines
}

/// A slice with its heat map blended in, at the slice's own resolution, framed by a caption
/// above (each entry of `caption` wrapped to the figure's width) and a colour bar (heat 0 to 1)
/// on the right.
pub fn heat_figure(slice: &GreyImage, heat: &[f32], caption: &[String]) -> RgbImage {
    let picture = overlay(&slice.pixels, heat, slice.width, slice.height);
    let scale = (slice.width / 256).max(1);
    let line = 10 * scale;
    let bar = 36 * scale;
    let width = picture.width + bar;
    let chars = ((width - 4 * scale) / (8 * scale)).max(8);
    let lines: Vec<String> = caption.iter().flat_map(|c| wrap(c, chars)).collect();
    let top = lines.len() * line + 4 * scale;
    let widest = lines.iter().map(|c| c.len() * 8 * scale).max().unwrap_or(0);
    let width = width.max(widest + 4 * scale);
    let mut out = RgbImage::filled(width, top + picture.height, WHITE);
    for (i, text) in lines.iter().enumerate() {
        out.text(2 * scale, 2 * scale + i * line, text, INK, scale);
    }
    out.blit(&picture, 0, top);
    // The colour bar: hot at the top, cold at the bottom, labelled 1 and 0.
    let (x, h) = (picture.width + 4 * scale, picture.height);
    for y in 0..h {
        let t = 1.0 - y as f32 / (h.max(2) - 1) as f32;
        out.fill(x, top + y, 10 * scale, 1, jet(t));
    }
    out.text(x + 12 * scale, top, "1", INK, scale);
    out.text(
        x + 12 * scale,
        top + h.saturating_sub(8 * scale),
        "0",
        INK,
        scale,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caption_of_any_length_keeps_the_figure_the_pictures_size() {
        let slice = GreyImage {
            width: 64,
            height: 64,
            pixels: vec![0; 64 * 64],
        };
        let heat = vec![0.0; 64 * 64];
        let short = heat_figure(&slice, &heat, &["knee.zip".into()]);
        let long = heat_figure(&slice, &heat, &["x".repeat(65_400)]);
        assert_eq!(long.width, short.width, "no wider than the picture and bar");
        assert!(
            long.height <= short.height + CAPTION_LINES * 10,
            "{}",
            long.height
        );
        let lines = wrap(&"word ".repeat(100), 20);
        assert_eq!(lines.len(), CAPTION_LINES);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert!(lines[CAPTION_LINES - 1].ends_with("..."));
        assert_eq!(wrap("a b", 20), ["a b"]);
    }

    #[test]
    fn jet_runs_blue_to_red_and_overlay_keeps_cold_pixels_grey() {
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        let img = overlay(&[100, 100], &[0.0, 1.0], 2, 1);
        assert_eq!(&img.pixels[..3], &[100, 100, 100]);
        assert!(img.pixels[3] > img.pixels[5], "hot pixel is red");
    }

    #[test]
    fn text_draws_glyphs_from_the_bitmap_font() {
        let mut img = RgbImage::filled(16, 8, WHITE);
        img.text(0, 0, "|", INK, 1);
        // The bar glyph of the 8x8 font is a vertical stroke in columns 3 and 4 (row 1 here).
        let dark: Vec<usize> = (0..16)
            .filter(|&x| img.pixels[(16 + x) * 3] < 128)
            .collect();
        assert_eq!(dark, vec![3, 4]);
        let before = img.clone();
        img.text(8, 0, " ", INK, 1);
        assert_eq!(img, before, "a space draws nothing");
    }

    #[test]
    fn a_heat_figure_keeps_the_slice_resolution_and_adds_its_frame() {
        let slice = GreyImage {
            width: 300,
            height: 200,
            pixels: vec![90; 300 * 200],
        };
        let mut heat = vec![0.0; 300 * 200];
        heat[100 * 300 + 150] = 1.0;
        let caption = vec![
            "slice 12".to_string(),
            "call injured P=0.91; CAM for injured (synthetic demo model)".to_string(),
        ];
        let fig = heat_figure(&slice, &heat, &caption);
        // The second entry is wrapped to the figure's 41 characters: three lines in all.
        assert_eq!(
            wrap(&caption[1], 41),
            [
                "call injured P=0.91; CAM for injured",
                "(synthetic demo model)"
            ]
        );
        let top = 3 * 10 + 4;
        assert_eq!((fig.width, fig.height), (300 + 36, 200 + top));
        let at =
            |x: usize, y: usize| &fig.pixels[(y * fig.width + x) * 3..(y * fig.width + x) * 3 + 3];
        assert_eq!(at(0, top), &[90, 90, 90], "cold pixels stay grey");
        assert!(
            at(150, top + 100)[0] > at(150, top + 100)[2],
            "the hot pixel is red"
        );
        assert_eq!(at(304, top), &jet(1.0), "the bar starts hot");
        assert!(
            (0..top).any(|y| (0..100).any(|x| at(x, y)[0] < 128)),
            "the caption is drawn"
        );
    }
}
