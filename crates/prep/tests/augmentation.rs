//! Augmentation with known answers: each part of an [`AugmentDraw`] applied to images whose
//! result can be worked out by hand (ramps for the geometry, since bilinear sampling of a
//! linear ramp is exact; a constant image for the bias field; one bright pixel for ghosting),
//! and the draws held to their configured ranges and probabilities over many seeds.

use cruciate_prep::{AugmentConfig, AugmentDraw};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Side of the test images: odd, so that the centre is a pixel.
const N: usize = 33;

fn none() -> AugmentDraw {
    AugmentDraw {
        flip: false,
        angle: 0.0,
        shift: [0.0, 0.0],
        zoom: 1.0,
        gamma: None,
        intensity: None,
        bias: None,
        ghosting: None,
        noise_std: None,
    }
}

fn apply(draw: &AugmentDraw, data: &mut [f32], slices: usize) {
    draw.apply(data, [slices, N, N], &mut ChaCha8Rng::seed_from_u64(0));
}

/// Where the draw samples the output pixel `(r, c)` from, worked out from its definition:
/// rotate counter-clockwise about the centre, zoom, mirror, shift; undone in reverse order.
fn source_of(draw: &AugmentDraw, r: f64, c: f64) -> (f64, f64) {
    let centre = (N as f64 - 1.0) / 2.0;
    let (mut y, mut x) = (r - centre - draw.shift[0], c - centre - draw.shift[1]);
    if draw.flip {
        x = -x;
    }
    (y, x) = (y / draw.zoom, x / draw.zoom);
    // Counter-clockwise as displayed with rows down takes (y, x) to
    // (y cos - x sin, y sin + x cos); the opposite rotation undoes it.
    let (sin, cos) = draw.angle.sin_cos();
    (cos * y + sin * x + centre, -sin * y + cos * x + centre)
}

/// Applies `draw` to a row ramp (slice 0) and a column ramp (slice 1): each output pixel then
/// holds the source position it was sampled from, which must be `source_of`'s wherever that
/// lies inside the image; pixels sampled wholly outside are 0.
fn assert_geometry(draw: &AugmentDraw) {
    let mut data = vec![0.0f32; 2 * N * N];
    for r in 0..N {
        for c in 0..N {
            data[r * N + c] = r as f32;
            data[N * N + r * N + c] = c as f32;
        }
    }
    apply(draw, &mut data, 2);
    let last = (N - 1) as f64;
    let (mut inside, mut outside) = (0, 0);
    for r in 0..N {
        for c in 0..N {
            let (sy, sx) = source_of(draw, r as f64, c as f64);
            let got = (data[r * N + c] as f64, data[N * N + r * N + c] as f64);
            // Bilinear sampling of a ramp is exact where all four neighbours lie inside (or
            // the sample falls on the last row or column itself).
            let exact = |v: f64| (0.0..=last - 1.0).contains(&v) || v == last;
            if exact(sy) && exact(sx) {
                assert!(
                    (got.0 - sy).abs() < 1e-3 && (got.1 - sx).abs() < 1e-3,
                    "{draw:?}: pixel ({r}, {c}) sampled {got:?}, expected ({sy}, {sx})"
                );
                inside += 1;
            } else if sy <= -1.0 || sx <= -1.0 || sy >= last + 1.0 || sx >= last + 1.0 {
                assert_eq!(got, (0.0, 0.0), "{draw:?}: pixel ({r}, {c}) is outside");
                outside += 1;
            }
        }
    }
    assert!(inside > N * N / 3, "{draw:?}: only {inside} pixels checked");
    if draw.shift != [0.0, 0.0] || draw.zoom < 1.0 || draw.angle != 0.0 {
        assert!(outside > 0, "{draw:?}: no pixel from outside the image");
    }
}

#[test]
fn geometry_samples_where_its_definition_says() {
    assert_geometry(&AugmentDraw {
        flip: true,
        ..none()
    });
    assert_geometry(&AugmentDraw {
        shift: [2.0, -3.0],
        ..none()
    });
    assert_geometry(&AugmentDraw {
        shift: [1.25, 2.5],
        ..none()
    });
    assert_geometry(&AugmentDraw {
        angle: 0.3,
        ..none()
    });
    assert_geometry(&AugmentDraw {
        zoom: 1.25,
        ..none()
    });
    assert_geometry(&AugmentDraw {
        zoom: 0.8,
        ..none()
    });
    assert_geometry(&AugmentDraw {
        flip: true,
        angle: -0.2,
        shift: [-1.5, 0.75],
        zoom: 1.1,
        ..none()
    });
}

#[test]
fn a_quarter_turn_moves_the_right_edge_to_the_top() {
    // Counter-clockwise as displayed: the pixel right of the centre goes above it.
    let mut data = vec![0.0f32; N * N];
    let centre = N / 2;
    data[centre * N + centre + 5] = 100.0;
    apply(
        &AugmentDraw {
            angle: std::f64::consts::FRAC_PI_2,
            ..none()
        },
        &mut data,
        1,
    );
    assert!((data[(centre - 5) * N + centre] - 100.0).abs() < 1e-3);
    assert!((data.iter().sum::<f32>() - 100.0).abs() < 1e-3);
}

#[test]
fn intensity_changes_follow_their_formulas() {
    let ramp: Vec<f32> = (0..N * N).map(|i| (i % 256) as f32).collect();
    let mut data = ramp.clone();
    apply(
        &AugmentDraw {
            gamma: Some(0.5),
            ..none()
        },
        &mut data,
        1,
    );
    for (a, b) in data.iter().zip(&ramp) {
        assert!((a - 255.0 * (b / 255.0).sqrt()).abs() < 1e-3, "{b} -> {a}");
    }
    let mut data = ramp.clone();
    apply(
        &AugmentDraw {
            intensity: Some(1.1),
            ..none()
        },
        &mut data,
        1,
    );
    for (a, b) in data.iter().zip(&ramp) {
        assert!((a - 1.1 * b).abs() < 1e-3, "{b} -> {a}");
    }
}

#[test]
fn noise_is_the_streams_normal_draws_added() {
    let ramp: Vec<f32> = (0..N * N).map(|i| (i % 200) as f32).collect();
    let mut data = ramp.clone();
    let draw = AugmentDraw {
        noise_std: Some(6.0),
        ..none()
    };
    draw.apply(&mut data, [1, N, N], &mut ChaCha8Rng::seed_from_u64(3));
    let normal = Normal::new(0.0, 6.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (a, b) in data.iter().zip(&ramp) {
        let expected = b + normal.sample(&mut rng) as f32;
        assert!(
            (a - expected).abs() < 1e-4,
            "{b} -> {a}, expected {expected}"
        );
    }
}

#[test]
fn the_bias_field_is_the_exponential_of_its_quadratic() {
    let k = [0.3, -0.2, 0.1, 0.25, -0.15];
    let mut data = vec![1.0f32; 2 * N * N];
    apply(
        &AugmentDraw {
            bias: Some(k),
            ..none()
        },
        &mut data,
        2,
    );
    for r in 0..N {
        for c in 0..N {
            let u = -1.0 + 2.0 * r as f64 / (N - 1) as f64;
            let v = -1.0 + 2.0 * c as f64 / (N - 1) as f64;
            let field = (k[0] * u + k[1] * v + k[2] * u * u + k[3] * v * v + k[4] * u * v).exp();
            for s in 0..2 {
                let got = data[s * N * N + r * N + c] as f64;
                assert!(
                    (got - field).abs() < 1e-5,
                    "({s}, {r}, {c}): {got} vs {field}"
                );
            }
        }
    }
}

#[test]
fn ghosts_are_shifted_copies_each_fainter_than_the_last() {
    // 30 rows, two ghosts: copies 10 and 20 rows further down (wrapping), at 0.3 and 0.15.
    let (rows, cols) = (30, 4);
    let mut data = vec![0.0f32; rows * cols];
    data[25 * cols + 1] = 100.0;
    let draw = AugmentDraw {
        ghosting: Some((0.3, 2)),
        ..none()
    };
    draw.apply(
        &mut data,
        [1, rows, cols],
        &mut ChaCha8Rng::seed_from_u64(0),
    );
    let mut expected = vec![0.0f32; rows * cols];
    expected[25 * cols + 1] = 100.0;
    expected[5 * cols + 1] = 30.0;
    expected[15 * cols + 1] = 15.0;
    for (i, (a, b)) in data.iter().zip(&expected).enumerate() {
        assert!(
            (a - b).abs() < 1e-4,
            "row {}, column {}: {a} vs {b}",
            i / cols,
            i % cols
        );
    }
}

fn all_on() -> AugmentConfig {
    AugmentConfig {
        flip: 1.0,
        rotate: 1.0,
        translate: 1.0,
        scale: 1.0,
        gamma: 1.0,
        intensity: 1.0,
        noise: 1.0,
        bias_field: 1.0,
        ghosting: 1.0,
        ..AugmentConfig::default()
    }
}

/// Draws for seeds 0..n.
fn draws(config: &AugmentConfig, n: u64) -> Vec<AugmentDraw> {
    (0..n)
        .map(|seed| AugmentDraw::sample(config, [N, N], &mut ChaCha8Rng::seed_from_u64(seed)))
        .collect()
}

/// The largest absolute value of `values` lies within `limit` and beyond nine tenths of it.
fn spans(what: &str, values: impl Iterator<Item = f64>, limit: f64) {
    let largest = values.fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        largest <= limit + 1e-12 && largest > 0.9 * limit,
        "{what}: largest {largest}, limit {limit}"
    );
}

#[test]
fn draws_stay_within_their_ranges_and_cover_them() {
    let config = all_on();
    let all = draws(&config, 300);
    let side = N as f64 * config.translate_fraction;
    spans("angle", all.iter().map(|d| d.angle), 10f64.to_radians());
    spans("row shift", all.iter().map(|d| d.shift[0]), side);
    spans("column shift", all.iter().map(|d| d.shift[1]), side);
    spans("zoom", all.iter().map(|d| d.zoom - 1.0), 0.1);
    spans("gamma", all.iter().map(|d| d.gamma.unwrap() - 1.0), 0.3);
    spans(
        "intensity",
        all.iter().map(|d| d.intensity.unwrap() as f64 - 1.0),
        0.15,
    );
    for i in 0..5 {
        spans("bias", all.iter().map(|d| d.bias.unwrap()[i]), 0.3);
    }
    spans(
        "ghost",
        all.iter().map(|d| d.ghosting.unwrap().0 as f64),
        0.15,
    );
    assert!(
        all.iter()
            .all(|d| d.ghosting.unwrap().0 >= 0.3 * 0.15 - 1e-6)
    );
    let mut counts = [0; 4];
    for d in &all {
        counts[d.ghosting.unwrap().1] += 1;
    }
    assert!(
        counts[0] == 0 && counts[1..].iter().all(|&n| n > 60),
        "{counts:?}"
    );
    assert!(all.iter().all(|d| d.flip && d.noise_std == Some(6.0)));
}

/// An augmentation's name, how to switch it on at one half, and whether a draw has it.
type Case = (
    &'static str,
    fn(&mut AugmentConfig),
    fn(&AugmentDraw) -> bool,
);

#[test]
fn each_augmentation_is_drawn_with_its_probability() {
    let off = draws(&AugmentConfig::default(), 50);
    assert!(off.iter().all(|d| *d == none()));
    // Noise of no strength is no noise.
    let silent = AugmentConfig {
        noise: 1.0,
        noise_std: 0.0,
        ..AugmentConfig::default()
    };
    assert!(draws(&silent, 5).iter().all(|d| *d == none()));
    let half = |set: fn(&mut AugmentConfig)| {
        let mut config = AugmentConfig::default();
        set(&mut config);
        draws(&config, 400)
    };
    let share = |hits: usize| hits as f64 / 400.0;
    let cases: [Case; 9] = [
        ("flip", |c| c.flip = 0.5, |d| d.flip),
        ("rotate", |c| c.rotate = 0.5, |d| d.angle != 0.0),
        (
            "translate",
            |c| c.translate = 0.5,
            |d| d.shift != [0.0, 0.0],
        ),
        ("scale", |c| c.scale = 0.5, |d| d.zoom != 1.0),
        ("gamma", |c| c.gamma = 0.5, |d| d.gamma.is_some()),
        (
            "intensity",
            |c| c.intensity = 0.5,
            |d| d.intensity.is_some(),
        ),
        ("bias", |c| c.bias_field = 0.5, |d| d.bias.is_some()),
        ("ghosting", |c| c.ghosting = 0.5, |d| d.ghosting.is_some()),
        ("noise", |c| c.noise = 0.5, |d| d.noise_std.is_some()),
    ];
    for (name, set, drawn) in cases {
        let all = half(set);
        // 400 draws at p = 0.5: within 0.42..0.58 but for one time in 10^3.
        let p = share(all.iter().filter(|d| drawn(d)).count());
        assert!((0.42..=0.58).contains(&p), "{name}: drawn {p} of the time");
        // Nothing else is drawn.
        assert!(
            all.iter().filter(|d| !drawn(d)).all(|d| *d == none()),
            "{name}"
        );
    }
}

#[test]
fn draws_are_the_same_from_version_to_version() {
    // A run's augmentation is part of what its seed reproduces: these are the draws of seed 7,
    // recorded when the sampler was written; a change here changes every trained model.
    let d = AugmentDraw::sample(&all_on(), [N, N], &mut ChaCha8Rng::seed_from_u64(7));
    let recorded = AugmentDraw {
        flip: true,
        angle: 0.07130582034923329,
        shift: [0.5346476007010198, -0.7425561321615761],
        zoom: 1.0698579715218208,
        gamma: Some(1.2939834783542838),
        intensity: Some(0.9652825),
        bias: Some([
            -0.14561571256764894,
            -0.04401460368454959,
            0.015922641742452368,
            -0.11821573071928748,
            -0.2545385724892057,
        ]),
        ghosting: Some((0.06782262, 1)),
        noise_std: Some(6.0),
    };
    assert_eq!(d, recorded);
    // An augmentation that is off draws nothing from the stream, not even its coin toss.
    let some_off = AugmentConfig {
        flip: 0.0,
        translate: 0.0,
        gamma: 0.0,
        noise: 0.0,
        ghosting: 0.0,
        ..all_on()
    };
    let d = AugmentDraw::sample(&some_off, [N, N], &mut ChaCha8Rng::seed_from_u64(7));
    let recorded = AugmentDraw {
        angle: -0.11589357542542586,
        zoom: 1.045348259342653,
        intensity: Some(0.9578093),
        bias: Some([
            0.20957391456546262,
            -0.08132152710674143,
            0.2939834783542838,
            -0.17985743217314928,
            -0.06943496869830335,
        ]),
        ..none()
    };
    assert_eq!(d, recorded);
}

#[test]
fn probabilities_are_listed_by_name() {
    let config = AugmentConfig {
        flip: 0.1,
        rotate: 0.2,
        translate: 0.3,
        scale: 0.4,
        gamma: 0.5,
        intensity: 0.6,
        noise: 0.7,
        bias_field: 0.8,
        ghosting: 0.9,
        ..AugmentConfig::default()
    };
    assert_eq!(
        config.probabilities(),
        [
            ("flip", 0.1),
            ("rotate", 0.2),
            ("translate", 0.3),
            ("scale", 0.4),
            ("gamma", 0.5),
            ("intensity", 0.6),
            ("noise", 0.7),
            ("bias_field", 0.8),
            ("ghosting", 0.9),
        ]
    );
}
