//! Synthetic knee exams whose ACL grade and meniscal tears show in the anatomy, in the
//! sagittal plane and, when asked, the coronal and axial planes.
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
//! geometry is drawn in sagittal sections (no 3-D ligament twist; coronal and axial slices,
//! sampled from the same model, show it extruded from side to side), there is no
//! fat-suppression failure, no cartilage pathology, no metal, no wrap-around. Meniscal tears
//! ([`meniscus`]) are horizontal, radial or bucket-handle, medial or lateral. Accuracy measured on phantoms says
//! that the software works end to end; it says nothing about clinical performance.

pub mod knee;
pub mod ligament;
pub mod meniscus;
pub mod scanner;
pub mod shapes;
pub mod tissue;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cruciate_volume::{Format, Orientation, Plane, RoiBox, SourceMetadata, Volume};
use knee::Knee;
use ligament::Acl;
pub use meniscus::{MeniscalTear, Side, TearKind};
use scanner::Scanner;
use serde::{Deserialize, Serialize};
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
    /// Smallest and largest slice count (inclusive), in every plane.
    pub slices: (usize, usize),
    /// How subtle the grades are.
    pub difficulty: Difficulty,
    /// Seed of this exam (the dataset seed mixed with the exam index).
    pub seed: u64,
    /// A meniscal tear to draw, if any.
    pub meniscal_tear: Option<MeniscalTear>,
    /// The planes to acquire besides the sagittal one (always made): coronal, axial.
    pub planes: Vec<Plane>,
}

impl Default for ExamSpec {
    /// A sagittal exam of the demo's distribution: healthy, 256x256, 24 to 36 slices, easy.
    fn default() -> Self {
        Self {
            grade: 0,
            size: 256,
            slices: (24, 36),
            difficulty: Difficulty::Easy,
            seed: 0,
            meniscal_tear: None,
            planes: Vec::new(),
        }
    }
}

/// What is wrong with a phantom knee: the labels of its findings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// ACL grade 0..=3.
    pub acl_grade: u8,
    /// The meniscal tear, if any.
    pub meniscal_tear: Option<MeniscalTear>,
    /// Bone bruises (drawn with some complete ACL tears).
    pub bruises: bool,
}

impl Findings {
    /// MRNet's "abnormal": any finding (an ACL above grade 0, a meniscal tear, bone bruises).
    /// Effusion is not one: it is drawn alike for every knee, since an amount that followed a
    /// label would change the exam's intensity range and let whole-volume statistics call it
    /// (measured: a large effusion counted as abnormal gave the mean intensity an AUC of 0.66).
    pub fn abnormal(&self) -> bool {
        self.acl_grade > 0 || self.meniscal_tear.is_some() || self.bruises
    }
}

/// A generated exam: the sagittal volume (in scanner units), the other planes asked for, its
/// findings and the ACL's box.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// The sagittal series.
    pub volume: Volume,
    /// The other planes asked for, in the order asked, each with its ACL box in `roi`.
    pub planes: Vec<Volume>,
    /// ACL grade 0..=3.
    pub grade: u8,
    /// Every finding's label.
    pub findings: Findings,
    /// Voxel box of the sagittal series around every pixel drawn as ACL fibres or lesion.
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
        meniscal_tear: None,
        texture_seed: rng.random(),
        cache: Default::default(),
    };
    knee.acl.tibial = knee.to_tibia(tibial_f);
    knee.prepared()
}

/// Scanner-to-knee mapping of one exam: field of view, rotation, translation, scale, side.
struct Placement {
    /// `(sin, cos)` of minus the in-plane rotation.
    unrotate: (f32, f32),
    shift: P2,
    scale: f32,
    mirror: bool,
}

impl Placement {
    /// The knee's point at scanner position `ant` (mm anterior), `sup` (mm superior), `lat`
    /// (mm along the sagittal slice direction): its femoral-frame point and its mediolateral
    /// position.
    fn knee_point(&self, [ant, sup, lat]: [f32; 3]) -> (P2, f32) {
        let q = rotate_by(
            [ant - self.shift[0], sup - self.shift[1]],
            [0.0, 0.0],
            self.unrotate,
        );
        let x = if self.mirror { -lat } else { lat } / self.scale;
        ([q[0] / self.scale, q[1] / self.scale], x)
    }
}

/// The slices of one plane: where they lie in the scanner and how fine they are.
struct Slab {
    plane: Plane,
    slices: usize,
    size: usize,
    pixel_mm: f32,
    /// Millimetres between slices.
    spacing: f32,
    /// Position of the first slice along the slice direction's scanner axis, mm.
    first: f32,
}

impl Slab {
    /// How the slice position moves per slice: sagittal slices run along `lat`, coronal ones
    /// from anterior to posterior, axial ones from inferior to superior.
    fn step(&self) -> f32 {
        match self.plane {
            Plane::Coronal => -self.spacing,
            _ => self.spacing,
        }
    }

    /// The scanner point (`ant`, `sup`, `lat`) of pixel (`r`, `c`) on the plane at `at`.
    fn point(&self, at: f32, r: usize, c: usize) -> [f32; 3] {
        let half = self.size as f32 / 2.0;
        let across = -(c as f32 + 0.5 - half) * self.pixel_mm;
        let down = -(r as f32 + 0.5 - half) * self.pixel_mm;
        match self.plane {
            Plane::Coronal => [at, down, across],
            Plane::Axial => [down, at, across],
            _ => [across, down, at],
        }
    }

    /// The patient-space (LPS) orientation of the slab, with the first voxel's position.
    fn orientation(&self) -> Orientation {
        let [ant, sup, lat] = self.point(self.first, 0, 0);
        let origin = [-lat as f64, -ant as f64, sup as f64];
        let (row_direction, column_direction, slice_direction) = match self.plane {
            Plane::Coronal => ([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]),
            Plane::Axial => ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
            // Rows run posterior (anterior is on the image's left), columns run down, slices
            // along row x column; a left knee is the mirrored anatomy, not a mirrored grid.
            _ => ([0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]),
        };
        Orientation {
            row_direction,
            column_direction,
            slice_direction,
            origin,
        }
    }

    /// What a protocol calls the series.
    fn description(&self) -> &'static str {
        match self.plane {
            Plane::Coronal => "COR PD FS",
            Plane::Axial => "AX PD FS",
            _ => "SAG PD FS",
        }
    }

    /// Renders the knee through `scanner`: each slice averages two planes a quarter of the
    /// spacing either side (partial volume). Returns the volume and the ACL's voxel box.
    fn render(
        &self,
        knee: &Knee,
        placement: &Placement,
        scanner: &Scanner,
        seed: u64,
        rng: &mut ChaCha8Rng,
    ) -> Volume {
        let (slices, size) = (self.slices, self.size);
        let mut data = vec![0.0f32; slices * size * size];
        let mut roi = (usize::MAX, 0, usize::MAX, 0, usize::MAX, 0);
        for s in 0..slices {
            let at = self.first + s as f32 * self.step();
            let planes = [at - self.spacing / 4.0, at + self.spacing / 4.0];
            let slice = &mut data[s * size * size..(s + 1) * size * size];
            for r in 0..size {
                for c in 0..size {
                    let mut signal = 0.0;
                    let mut acl = false;
                    for at in planes {
                        let (q, x) = placement.knee_point(self.point(at, r, c));
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
            scanner.acquire(slice, size, size, rng);
        }
        let roi = if roi.0 == usize::MAX {
            // The ACL fell between planes (very thin slab): mark the central slice's middle.
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
        let mut meta = SourceMetadata::new(Format::Memory, format!("phantom:{seed:016x}"));
        meta.modality = Some("MR".into());
        meta.series_description = Some(self.description().into());
        meta.manufacturer = Some("Cruciate phantom (synthetic)".into());
        meta.field_strength_t = Some(1.5);
        let mut volume = Volume::new(data, [slices, size, size], meta).expect("shape matches data");
        volume.spacing = [
            self.spacing as f64,
            self.pixel_mm as f64,
            self.pixel_mm as f64,
        ];
        volume = volume.with_orientation(self.orientation());
        volume.plane = self.plane;
        volume.roi = Some(roi);
        volume
    }
}

/// Generates one exam: the sagittal series, then the other planes `spec` asks for (each drawn
/// from a generator of its own, so that the sagittal series of a seed is the same whatever
/// planes are asked for).
pub fn generate(spec: &ExamSpec) -> Phantom {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let realistic = spec.difficulty == Difficulty::Realistic;
    let mut knee = draw_knee(&mut rng, spec.grade, spec.difficulty);
    knee.meniscal_tear = spec.meniscal_tear;
    let size = spec.size;
    let slices = rng.random_range(spec.slices.0..=spec.slices.1.max(spec.slices.0));
    let spacing = rng.random_range(3.0..4.0f32);
    let pixel_mm = rng.random_range(125.0..150.0f32) / size as f32;
    let placement = Placement {
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
    let sagittal = Slab {
        plane: Plane::Sagittal,
        slices,
        size,
        pixel_mm,
        spacing,
        first,
    };
    let volume = sagittal.render(&knee, &placement, &scanner, spec.seed, &mut rng);
    let planes = spec
        .planes
        .iter()
        .filter(|&&p| p != Plane::Sagittal)
        .map(|&plane| {
            let mut rng = ChaCha8Rng::seed_from_u64(exam_seed(spec.seed, plane as u64 + 1));
            let slices = rng.random_range(spec.slices.0..=spec.slices.1.max(spec.slices.0));
            let spacing = rng.random_range(3.0..4.0f32);
            // Centred on the knee: the notch (coronal), the joint line (axial).
            let centre = match plane {
                Plane::Coronal => placement.shift[0] - 4.0,
                _ => placement.shift[1],
            } + rng.random_range(-0.4..0.4f32) * spacing;
            let half_span = (slices as f32 - 1.0) / 2.0 * spacing;
            let slab = Slab {
                plane,
                slices,
                size,
                pixel_mm: rng.random_range(120.0..150.0f32) / size as f32,
                spacing,
                first: if plane == Plane::Coronal {
                    centre + half_span
                } else {
                    centre - half_span
                },
            };
            slab.render(&knee, &placement, &scanner, spec.seed, &mut rng)
        })
        .collect();
    Phantom {
        roi: volume.roi.expect("render sets the box"),
        volume,
        planes,
        grade: spec.grade,
        findings: Findings {
            acl_grade: spec.grade,
            meniscal_tear: spec.meniscal_tear,
            bruises: knee.bruises,
        },
    }
}
