//! One synthetic knee in three planes, intact and with each kind of meniscal tear.
//!
//! `cargo run --release -p cruciate-data --example findings -- OUT.png [SEED] [medial|lateral]`
//! writes one PNG: rows sagittal, coronal, axial; columns intact, horizontal, radial and
//! bucket-handle tears, each on the slice the tear changes most (synthetic phantoms, not
//! patients).

use cruciate_data::phantom::{ExamSpec, MeniscalTear, Side, TearKind, generate};
use cruciate_volume::export::{GreyImage, Window, slice_image, write_png};
use cruciate_volume::{Plane, Volume};

/// The slice of `torn` that differs most from `intact`.
fn most_changed(intact: &Volume, torn: &Volume) -> usize {
    let per_slice = torn.rows() * torn.cols();
    (0..torn.slices())
        .max_by_key(|&s| {
            let range = s * per_slice..(s + 1) * per_slice;
            intact.data[range.clone()]
                .iter()
                .zip(&torn.data[range])
                .filter(|(a, b)| a != b)
                .count()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "findings.png".into());
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let side = match args.next().as_deref() {
        Some("lateral") => Side::Lateral,
        _ => Side::Medial,
    };
    let size = 256;
    let spec = |tear: Option<TearKind>| ExamSpec {
        size,
        slices: (30, 30),
        seed,
        planes: vec![Plane::Coronal, Plane::Axial],
        meniscal_tear: tear.map(|kind| MeniscalTear {
            side,
            kind,
            at_mm: 25.0,
        }),
        ..ExamSpec::default()
    };
    let series = |tear| {
        let p = generate(&spec(tear));
        std::iter::once(p.volume)
            .chain(p.planes)
            .collect::<Vec<_>>()
    };
    let intact = series(None);
    let kinds = [
        TearKind::Horizontal,
        TearKind::Radial,
        TearKind::BucketHandle,
    ];
    let torn: Vec<Vec<Volume>> = kinds.iter().map(|&k| series(Some(k))).collect();
    let (columns, rows) = (1 + kinds.len(), intact.len());
    let mut pixels = vec![0u8; size * size * columns * rows];
    for (row, base) in intact.iter().enumerate() {
        let window = Window::from_percentiles(&base.data);
        let first_slice = most_changed(base, &torn[0][row]);
        let mut tiles = vec![slice_image(base, first_slice, window).ok_or("no slice")?];
        for case in &torn {
            let slice = most_changed(base, &case[row]);
            tiles.push(slice_image(&case[row], slice, window).ok_or("no slice")?);
        }
        for (column, tile) in tiles.iter().enumerate() {
            for r in 0..size {
                let at = ((row * size + r) * columns + column) * size;
                pixels[at..at + size].copy_from_slice(&tile.pixels[r * size..(r + 1) * size]);
            }
        }
    }
    write_png(
        std::path::Path::new(&out),
        &GreyImage {
            width: size * columns,
            height: size * rows,
            pixels,
        },
    )?;
    println!(
        "wrote {out}: one synthetic knee (seed {seed}), sagittal / coronal / axial; intact, \
         horizontal, radial and bucket-handle {side:?} meniscal tears"
    );
    Ok(())
}
