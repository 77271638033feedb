//! Synthetic sagittal knee exams whose ACL grade shows in the anatomy.
//!
//! # The model
//! Each exam draws one [`knee::Knee`] (anatomy and pathology) and one [`scanner::Scanner`],
//! then renders slices from lateral to medial across the knee. Every pixel is the signal of the
//! tissue found there on a proton-density fat-suppressed sequence ([`tissue`]): femur and tibia
//! with suppressed (dark) marrow, dark cortex and bright cartilage; the intercondylar notch with
//! its roof (Blumensaat line); patella, quadriceps and patellar tendons; Hoffa's fat pad;
//! menisci as dark wedges; muscles; joint fluid in the suprapatellar pouch, the posterior recess
//! and the joint space; the PCL as a thick dark curved band on the slices just medial to the
//! middle of the notch; and the ACL ([`ligament`]) on the 2-3 slices just lateral to it.
//!
//! Grades show in the ligament (see [`ligament`]); a complete tear adds local secondary signs:
//! sometimes bone bruises (lateral femoral condyle, posterior lateral tibial plateau), anterior
//! tibial translation and a buckled PCL. Effusion is drawn alike for every grade: it fills the
//! whole joint, and an amount that followed the grade would change the exam's intensity range,
//! so that whole-volume statistics of the written (windowed) files would call the grade
//! (`tests/phantoms.rs` holds them to a ROC AUC of 0.65 at most).
//!
//! Variation that a model must see through: knee size, flexion, in-plane rotation and position,
//! left or right knee, slice count, spacing and position, field of view, scanner gain and offset
//! (two scanners), bias field, motion ghosting, Rician noise, and partial volume (each slice
//! averages two planes a quarter of the spacing apart).
//!
//! # Limits
//! It is a drawing, not a simulation: tissues are flat-signal shapes with light texture, the
//! geometry is 2-D per slice (no 3-D ligament twist), there is no fat-suppression failure, no
//! meniscal or cartilage pathology, no metal, no wrap-around. Accuracy measured on phantoms says
//! that the software works end to end; it says nothing about clinical performance.

pub mod knee;
pub mod ligament;
pub mod scanner;
pub mod shapes;
pub mod tissue;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cruciate_volume::{Format, Orientation, Plane, RoiBox, SourceMetadata, Volume};
use knee::Knee;
use ligament::Acl;
use scanner::Scanner;
use shapes::{P2, rotate_by};

/// How hard the grades are to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Difficulty {
    /// Every grade clearly visible.
    #[default]
    Easy,
    /// Grades 1 and 2 subtle, as they are in life; more noise.
    Realistic,
}

/// What to generate for one exam.
#[derive(Debug, Clone, PartialEq)]
pub struct ExamSpec {
    /// ACL grade 0..=3.
    pub grade: u8,
    /// Rows and columns of each slice.
    pub size: usize,
    /// Smallest and largest slice count (inclusive).
    pub slices: (usize, usize),
    /// How subtle the grades are.
    pub difficulty: Difficulty,
    /// Seed of this exam (the dataset seed mixed with the exam index).
    pub seed: u64,
}

/// A generated exam: the volume (in scanner units), its grade and the ACL's box.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The exam.
    pub volume: Volume,
    /// ACL grade 0..=3.
    pub grade: u8,
    /// Voxel box around every pixel drawn as ACL fibres or ACL lesion.
    pub roi: RoiBox,
}

/// The exam seed for exam `index` of a dataset made with `seed`.
pub fn exam_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn draw_knee(rng: &mut ChaCha8Rng, grade: u8, difficulty: Difficulty) -> Knee {
    let realistic = difficulty == Difficulty::Realistic;
    let complete = grade == 3;
    let roof_angle = rng.random_range(0.58..0.70f32);
    let notch_half_width = rng.random_range(8.5..11.0f32);
    // The same for every grade: effusion fills the whole joint, so an amount that followed the
    // grade would change the exam's intensity histogram and let whole-volume statistics call
    // the grade (the secondary signs kept are local: bruises, tibial shift, PCL buckling).
    let effusion = rng.random_range(0.0..1.0f32);
    let femoral = [
        -17.0 + rng.random_range(-1.0..1.0f32),
        19.0 + rng.random_range(-1.0..1.0f32),
    ];
    // The tibial attachment so that the band runs about parallel to the roof.
    let length = rng.random_range(31.0..37.0f32);
    let angle = roof_angle + rng.random_range(0.0..0.08);
    let tibial_f = [
        femoral[0] + length * angle.cos(),
        femoral[1] - length * angle.sin(),
    ];
    let flexion = rng.random_range(0.0..0.35f32);
    let tibial_shift = if complete {
        rng.random_range(3.0..6.0f32)
    } else {
        rng.random_range(-0.5..1.5)
    };
    // Drawn for every grade so that the same seed gives the same knee whatever the grade.
    let bruise_draw = rng.random_bool(0.6);
    let mut knee = Knee {
        flexion,
        tibial_shift,
        notch_half_width,
        condyle_radius: rng.random_range(20.0..23.5),
        roof_angle,
        effusion,
        bruises: complete && bruise_draw,
        pcl_buckle: if complete {
            rng.random_range(2.0..5.0)
        } else {
            rng.random_range(0.0..1.0)
        },
        acl: Acl {
            grade,
            centre_x: -notch_half_width * rng.random_range(0.4..0.55),
            half_width: rng.random_range(3.2..4.2),
            femoral,
            tibial: [0.0, 0.0],
            radius: rng.random_range(3.2..4.0),
            thickening: if realistic {
                rng.random_range(1.15..1.3)
            } else {
                rng.random_range(1.35..1.55)
            },
            strain_signal: if realistic {
                rng.random_range(0.15..0.22)
            } else {
                rng.random_range(0.26..0.34)
            },
            gap: if realistic {
                (rng.random_range(0.35..0.55), rng.random_range(0.1..0.16))
            } else {
                (rng.random_range(0.3..0.5), rng.random_range(0.2..0.28))
            },
            lesion_signal: if realistic {
                rng.random_range(0.38..0.5)
            } else {
                rng.random_range(0.6..0.72)
            },
            stump_turn: rng.random_range(0.3..0.5),
            stripe_phase: rng.random_range(0.0..std::f32::consts::TAU),
            seed: rng.random(),
        },
        texture_seed: rng.random(),
        cache: Default::default(),
    };
    knee.acl.tibial = knee.to_tibia(tibial_f);
    knee.prepared()
}

/// Pixel-to-knee mapping of one exam: field of view, rotation, translation, scale, side.
struct Placement {
    pixel_mm: f32,
    /// `(sin, cos)` of minus the in-plane rotation.
    unrotate: (f32, f32),
    shift: P2,
    scale: f32,
    mirror: bool,
}

impl Placement {
    /// The femoral-frame point under pixel (`r`, `c`); anterior to the left of the image.
    fn knee_point(&self, r: usize, c: usize, size: usize) -> P2 {
        let half = size as f32 / 2.0;
        let image = [
            -(c as f32 + 0.5 - half) * self.pixel_mm,
            -(r as f32 + 0.5 - half) * self.pixel_mm,
        ];
        let q = rotate_by(
            [image[0] - self.shift[0], image[1] - self.shift[1]],
            [0.0, 0.0],
            self.unrotate,
        );
        [q[0] / self.scale, q[1] / self.scale]
    }
}

/// Generates one exam.
pub fn generate(spec: &ExamSpec) -> Phantom {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let realistic = spec.difficulty == Difficulty::Realistic;
    let knee = draw_knee(&mut rng, spec.grade, spec.difficulty);
    let size = spec.size;
    let slices = rng.random_range(spec.slices.0..=spec.slices.1.max(spec.slices.0));
    let spacing = rng.random_range(3.0..4.0f32);
    let placement = Placement {
        pixel_mm: rng.random_range(125.0..150.0f32) / size as f32,
        unrotate: (-rng.random_range(-0.14..0.14f32)).sin_cos(),
        shift: [
            rng.random_range(-8.0..8.0f32),
            rng.random_range(-8.0..8.0f32),
        ],
        scale: rng.random_range(0.88..1.12f32),
        mirror: rng.random_bool(0.5),
    };
    let scanner = Scanner::draw(&mut rng, realistic, size);
    // The slab is centred near the notch, so that the ACL falls on a few central slices.
    let first = -(slices as f32 - 1.0) / 2.0 * spacing + rng.random_range(-0.4..0.4f32) * spacing;
    let mut data = vec![0.0f32; slices * size * size];
    let mut roi = (usize::MAX, 0, usize::MAX, 0, usize::MAX, 0);
    for s in 0..slices {
        let plane_x = first + s as f32 * spacing;
        let planes = [plane_x - spacing / 4.0, plane_x + spacing / 4.0];
        let slice = &mut data[s * size * size..(s + 1) * size * size];
        for r in 0..size {
            for c in 0..size {
                let q = placement.knee_point(r, c, size);
                let mut signal = 0.0;
                let mut acl = false;
                for x in planes {
                    let x = if placement.mirror { -x } else { x } / placement.scale;
                    let sample = knee.sample(q, x);
                    signal += sample.signal * 0.5;
                    acl |= sample.acl;
                }
                slice[r * size + c] = signal;
                if acl {
                    roi = (
                        roi.0.min(s),
                        roi.1.max(s + 1),
                        roi.2.min(r),
                        roi.3.max(r + 1),
                        roi.4.min(c),
                        roi.5.max(c + 1),
                    );
                }
            }
        }
        scanner.acquire(slice, size, size, &mut rng);
    }
    let roi = if roi.0 == usize::MAX {
        // The ACL fell between planes (very thin slab): mark the central slice's notch area.
        let centre = slices / 2;
        RoiBox {
            s0: centre,
            s1: centre + 1,
            r0: size * 2 / 5,
            r1: size * 3 / 5,
            c0: size * 2 / 5,
            c1: size * 3 / 5,
        }
    } else {
        RoiBox {
            s0: roi.0,
            s1: roi.1,
            r0: roi.2,
            r1: roi.3,
            c0: roi.4,
            c1: roi.5,
        }
    };
    let mut meta = SourceMetadata::new(Format::Memory, format!("phantom:{:016x}", spec.seed));
    meta.modality = Some("MR".into());
    meta.series_description = Some("SAG PD FS".into());
    meta.manufacturer = Some("Cruciate phantom (synthetic)".into());
    meta.field_strength_t = Some(1.5);
    let mut volume = Volume::new(data, [slices, size, size], meta).expect("shape matches data");
    volume.spacing = [
        spacing as f64,
        placement.pixel_mm as f64,
        placement.pixel_mm as f64,
    ];
    // Rows run posterior (anterior is on the image's left), columns run down, slices along
    // row x column; a left knee is the mirrored anatomy, not a mirrored grid.
    volume = volume.with_orientation(Orientation {
        row_direction: [0.0, 1.0, 0.0],
        column_direction: [0.0, 0.0, -1.0],
        slice_direction: [-1.0, 0.0, 0.0],
        origin: [0.0; 3],
    });
    volume.plane = Plane::Sagittal;
    volume.roi = Some(roi);
    Phantom {
        volume,
        grade: spec.grade,
        roi,
    }
}
