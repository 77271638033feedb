//! The same synthetic knee at the four ACL grades, on the slice through the ligament.
//!
//! `cargo run --release -p cruciate-data --example grades -- OUT.png [SEED] [easy|realistic]`
//! writes one PNG: grades 0, 1, 2, 3 left to right (synthetic phantoms, not patients).

use cruciate_data::phantom::{Difficulty, ExamSpec, generate};
use cruciate_volume::export::{GreyImage, Window, slice_image, write_png};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "grades.png".into());
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let difficulty = match args.next().as_deref() {
        Some("realistic") => Difficulty::Realistic,
        _ => Difficulty::Easy,
    };
    let size = 256;
    let mut tiles = Vec::new();
    for grade in 0..4u8 {
        let spec = ExamSpec {
            grade,
            size,
            slices: (30, 30),
            difficulty,
            seed,
            ..ExamSpec::default()
        };
        let phantom = generate(&spec);
        let slice = phantom.roi.centre_slice();
        let window = Window::from_percentiles(&phantom.volume.data);
        tiles.push(slice_image(&phantom.volume, slice, window).ok_or("slice out of range")?);
    }
    let mut pixels = vec![0u8; size * size * 4];
    for (k, tile) in tiles.iter().enumerate() {
        for r in 0..size {
            let at = r * size * 4 + k * size;
            pixels[at..at + size].copy_from_slice(&tile.pixels[r * size..(r + 1) * size]);
        }
    }
    write_png(
        std::path::Path::new(&out),
        &GreyImage {
            width: size * 4,
            height: size,
            pixels,
        },
    )?;
    println!("wrote {out}: ACL grades 0 1 2 3 of one synthetic knee (seed {seed})");
    Ok(())
}
