//! The knee model: bones, cartilage, menisci, tendons, fat pad, fluid, PCL and soft tissue in a
//! femoral frame (mm, `u` anterior, `v` superior, joint line near `v = 0`), evaluated at a
//! mediolateral position `x` (mm from the middle of the intercondylar notch, positive medial).
//! The tibia has its own frame, turned by the flexion angle and shifted forward by any
//! anterior translation. The ACL lives in [`super::ligament`].

use super::ligament::Acl;
use super::meniscus::{MeniscalTear, Menisci};
use super::shapes::{
    P2, TURN_0, Turn, along_across, distance, ellipse_level, rotate_by, segment_distance,
    value_noise,
};
use super::tissue::*;

/// One knee's anatomy and pathology, drawn once per exam.
#[derive(Debug, Clone)]
pub struct Knee {
    /// Flexion in radians: the tibia turns back about the joint centre.
    pub flexion: f32,
    /// Forward shift of the tibia in mm (anterior drawer after a complete ACL tear).
    pub tibial_shift: f32,
    /// Half the width of the intercondylar notch in mm.
    pub notch_half_width: f32,
    /// Radius of the femoral condyles in mm.
    pub condyle_radius: f32,
    /// Angle of the notch roof (Blumensaat line) below the horizontal, radians.
    pub roof_angle: f32,
    /// Joint effusion, 0 (none) to 1 (large).
    pub effusion: f32,
    /// Bone bruises in the lateral femoral condyle and posterior lateral tibial plateau.
    pub bruises: bool,
    /// Extra curvature of the PCL (buckling after a complete ACL tear), mm.
    pub pcl_buckle: f32,
    /// The anterior cruciate ligament.
    pub acl: Acl,
    /// A meniscal tear, if any.
    pub meniscal_tear: Option<MeniscalTear>,
    /// Seed of the tissue texture.
    pub texture_seed: u32,
    /// Per-exam constants of the hot path, filled by [`Knee::prepared`].
    pub(crate) cache: Cache,
}

/// Geometry that is the same for every pixel of an exam.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cache {
    /// `(sin, cos)` of the flexion.
    flexion: (f32, f32),
    /// Tibial tuberosity in the femoral frame.
    tuberosity: P2,
    /// The PCL's centre line in the femoral frame.
    pcl: [P2; 9],
    /// The ACL's tibial attachment in the femoral frame.
    acl_tibial: P2,
}

/// What a point of the model is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Signal before the scanner.
    pub signal: f32,
    /// True for ACL fibres and ACL lesions (the ground-truth region).
    pub acl: bool,
}

impl Sample {
    fn of(signal: f32) -> Self {
        Self { signal, acl: false }
    }
}

const JOINT: P2 = [0.0, 0.0];
// `(sin, cos)` of the fixed tilts of the drawn ellipses (radians in the names).
const TURN_HOFFA: Turn = (-0.295_520_2, 0.955_336_5); // -0.3
const TURN_PATELLA: Turn = (0.198_669_33, 0.980_066_6); // 0.2
const TURN_BRUISE: Turn = (0.295_520_2, 0.955_336_5); // 0.3
const TURN_POUCH: Turn = (-0.099_833_42, 0.995_004_2); // -0.1

impl Knee {
    /// The knee with its per-exam constants computed: call once after setting the fields.
    pub fn prepared(mut self) -> Self {
        let (s, c) = self.flexion.sin_cos();
        self.cache.flexion = (s, c);
        self.cache.tuberosity = self.from_tibia([24.0, -30.0]);
        self.cache.acl_tibial = self.from_tibia(self.acl.tibial);
        // A curved "hockey stick": femoral attachment high in the notch on the medial condyle,
        // down and back to the posterior tibia (a quadratic Bezier, 8 segments).
        let p0 = [-2.0, 14.0];
        let p2 = self.from_tibia([-21.0, -13.0]);
        let c1 = [-6.0 - self.pcl_buckle, 0.5 + self.pcl_buckle * 0.6];
        self.cache.pcl = std::array::from_fn(|k| {
            let t = k as f32 / 8.0;
            let (a, b) = ((1.0 - t) * (1.0 - t), 2.0 * (1.0 - t) * t);
            [
                a * p0[0] + b * c1[0] + t * t * p2[0],
                a * p0[1] + b * c1[1] + t * t * p2[1],
            ]
        });
        self
    }

    /// The ACL's tibial attachment in the femoral frame.
    pub fn acl_tibial_attachment(&self) -> P2 {
        self.cache.acl_tibial
    }

    /// A femoral-frame point in the tibial frame.
    pub fn to_tibia(&self, q: P2) -> P2 {
        let (s, c) = self.sin_cos_flexion();
        rotate_by([q[0] - self.tibial_shift, q[1]], JOINT, (s, c))
    }

    /// A tibial-frame point in the femoral frame.
    pub fn from_tibia(&self, t: P2) -> P2 {
        let (s, c) = self.sin_cos_flexion();
        let p = rotate_by(t, JOINT, (-s, c));
        [p[0] + self.tibial_shift, p[1]]
    }

    fn sin_cos_flexion(&self) -> (f32, f32) {
        if self.cache.flexion == (0.0, 0.0) {
            self.flexion.sin_cos()
        } else {
            self.cache.flexion
        }
    }

    fn condyle_centre(&self) -> P2 {
        [-3.0, self.condyle_radius]
    }

    fn in_notch(&self, x: f32) -> bool {
        x.abs() < self.notch_half_width
    }

    /// The model at femoral-frame point `q` on the sagittal plane at `x`.
    pub fn sample(&self, q: P2, x: f32) -> Sample {
        if let Some(signal) = self.acl.sample(self.acl_tibial_attachment(), q, x) {
            return Sample { signal, acl: true };
        }
        let t = self.to_tibia(q);
        let ax = x.abs();
        let texture = |scale: f32, seed: u32| {
            value_noise(q[0] / scale, q[1] / scale, self.texture_seed ^ seed)
        };
        if let Some(s) = self.pcl(q, x) {
            return Sample::of(s);
        }
        let menisci = Menisci {
            notch_half_width: self.notch_half_width,
            tear: self.meniscal_tear,
        };
        if let Some(s) = menisci.sample(t, x) {
            return Sample::of(s);
        }
        if let Some(s) = self.tendons(q, ax) {
            return Sample::of(s);
        }
        if let Some(s) = self.patella(q, ax, &texture) {
            return Sample::of(s);
        }
        if let Some(s) = self.femur(q, x, &texture) {
            return Sample::of(s);
        }
        if let Some(s) = self.tibia(t, x, &texture) {
            return Sample::of(s);
        }
        if let Some(s) = self.fluid(q, t, ax) {
            return Sample::of(s);
        }
        if ax < 22.0 && ellipse_level(q, [17.0, 0.0], [9.0, 11.0], TURN_HOFFA) < 1.0 {
            let septa = if texture(2.0, 7) > 0.55 { 0.12 } else { 0.0 };
            return Sample::of(HOFFA + septa);
        }
        if let Some(s) = menisci.displaced_fragment(t, x) {
            return Sample::of(s);
        }
        if self.in_notch(x)
            && q[0] > -22.0
            && q[0] < 14.0
            && q[1] > -4.0
            && q[1] < self.condyle_radius
        {
            return Sample::of(NOTCH + 0.04 * texture(1.5, 11));
        }
        Sample::of(self.soft_tissue(q, x, &texture))
    }

    fn pcl(&self, q: P2, x: f32) -> Option<f32> {
        if !(0.5..=9.0).contains(&x) {
            return None;
        }
        // A curved "hockey stick": femoral attachment high in the notch on the medial condyle,
        // down and back to the posterior tibia.
        let p0 = [-2.0, 14.0];
        let p2 = self.from_tibia([-21.0, -13.0]);
        let c = [-6.0 - self.pcl_buckle, 0.5 + self.pcl_buckle * 0.6];
        let mut prev = p0;
        let mut best = f32::MAX;
        for k in 1..=8 {
            let s = k as f32 / 8.0;
            let a = (1.0 - s) * (1.0 - s);
            let b = 2.0 * (1.0 - s) * s;
            let point = [
                a * p0[0] + b * c[0] + s * s * p2[0],
                a * p0[1] + b * c[1] + s * s * p2[1],
            ];
            best = best.min(segment_distance(q, prev, point));
            prev = point;
        }
        (best < 3.4).then_some(LIGAMENT)
    }

    fn tendons(&self, q: P2, ax: f32) -> Option<f32> {
        if ax < 18.0 && segment_distance(q, [36.0, 90.0], [33.0, 50.0]) < 3.2 {
            return Some(TENDON);
        }
        if ax < 14.0 && segment_distance(q, [31.0, 15.0], self.cache.tuberosity) < 2.6 {
            return Some(TENDON);
        }
        None
    }

    fn patella(&self, q: P2, ax: f32, texture: &dyn Fn(f32, u32) -> f32) -> Option<f32> {
        if ax > 22.0 {
            return None;
        }
        let centre = [30.0, 33.0];
        let level = ellipse_level(q, centre, [7.5, 18.0], TURN_PATELLA);
        if level < 0.78 {
            return Some(MARROW + 0.04 * texture(1.2, 3));
        }
        if level < 1.0 {
            return Some(CORTEX);
        }
        (level < 1.4 && q[0] < centre[0] - 2.0).then_some(CARTILAGE)
    }

    fn femur(&self, q: P2, x: f32, texture: &dyn Fn(f32, u32) -> f32) -> Option<f32> {
        let ax = x.abs();
        let centre = self.condyle_centre();
        let taper = ((44.0 - (ax - self.notch_half_width).max(0.0)) / 8.0).clamp(0.0, 1.0);
        let radius = self.condyle_radius * (0.55 + 0.45 * taper);
        let d = distance(q, centre);
        let in_shaft = q[1] > centre[1] && q[0].abs() < 13.0 + (q[1] - centre[1]).min(0.0);
        let roof = [-19.0, centre[1] + 1.0];
        let roof_end = [
            roof[0] + self.roof_angle.cos(),
            roof[1] - self.roof_angle.sin(),
        ];
        let (_, above_roof) = along_across(q, roof, roof_end);
        let notch = self.in_notch(x) && above_roof < 0.0 && q[1] < centre[1] + 2.0;
        let in_condyle = d < radius && !notch && ax < 44.0 + self.notch_half_width;
        if in_shaft || in_condyle {
            let rim = if in_shaft && !in_condyle {
                13.0 - q[0].abs()
            } else {
                radius - d
            };
            let on_roof = self.in_notch(x) && above_roof.abs() < 1.3 && d < radius;
            if rim < 1.3 || on_roof {
                return Some(CORTEX);
            }
            if self.bruises
                && x < -14.0
                && ellipse_level(q, [6.0, 5.0], [8.0, 5.0], TURN_BRUISE) < 1.0
            {
                return Some(BRUISE + 0.05 * texture(1.5, 5));
            }
            return Some(MARROW + 0.05 * texture(1.0, 1));
        }
        let cartilage_side = q[1] < centre[1] + 6.0 || (q[0] > 8.0 && q[1] < centre[1] + 18.0);
        (!self.in_notch(x) && d >= radius && d < radius + 2.4 && cartilage_side)
            .then_some(CARTILAGE)
    }

    fn tibia(&self, t: P2, x: f32, texture: &dyn Fn(f32, u32) -> f32) -> Option<f32> {
        let ax = x.abs();
        if ax > 44.0 + self.notch_half_width * 0.5 {
            return None;
        }
        let spine = if self.in_notch(x) && t[0] > -5.0 && t[0] < 7.0 {
            2.0 - (t[0] - 1.0).abs() / 3.0
        } else {
            0.0
        };
        let top = -3.5 + spine.max(0.0) - 0.004 * t[0] * t[0];
        let (back, front) = if t[1] > -30.0 {
            (-24.0, 22.0 + 3.0 * ((t[1] + 30.0) / 26.0).min(1.0))
        } else {
            (-18.0, 14.0)
        };
        let tuberosity = if t[1] < -18.0 && t[1] > -34.0 {
            4.0
        } else {
            0.0
        };
        let inside = t[1] < top && t[0] > back && t[0] < front + tuberosity;
        if inside {
            let rim = (top - t[1]).min(t[0] - back).min(front + tuberosity - t[0]);
            if rim < 1.3 {
                return Some(CORTEX);
            }
            if self.bruises
                && x < -12.0
                && ellipse_level(t, [-16.0, -9.0], [8.0, 5.0], TURN_0) < 1.0
            {
                return Some(BRUISE + 0.05 * texture(1.5, 6));
            }
            return Some(MARROW + 0.05 * texture(1.0, 2));
        }
        let plateau = t[0] > back + 2.0 && t[0] < 20.0;
        (!self.in_notch(x) && plateau && t[1] >= top && t[1] < top + 2.0).then_some(CARTILAGE)
    }

    fn fluid(&self, q: P2, t: P2, ax: f32) -> Option<f32> {
        let e = self.effusion;
        let pouch = ax < 25.0
            && ellipse_level(q, [20.0, 38.0], [1.5 + 4.0 * e, 10.0 + 8.0 * e], TURN_POUCH) < 1.0;
        let recess = (5.0..30.0).contains(&ax)
            && ellipse_level(q, [-26.0, 5.0], [1.0 + 3.0 * e, 6.0 + 4.0 * e], TURN_0) < 1.0;
        // Between the femoral and tibial cartilage, unbounded from side to side: sagittal slabs
        // rarely reach past the condyles, and bounding it would change every phantom (and the
        // demo model's domain) for the few outer slices that do; coronal and axial slices show
        // the line running out of the leg.
        let joint =
            ax > self.notch_half_width && t[1] > -1.6 && t[1] < -1.0 + 0.8 * e && t[0].abs() < 20.0;
        (pouch || recess || joint).then_some(FLUID)
    }

    fn soft_tissue(&self, q: P2, x: f32, texture: &dyn Fn(f32, u32) -> f32) -> f32 {
        let width = (1.0 - (x / 62.0).powi(2)).max(0.0).sqrt();
        let front = if q[1] > 30.0 {
            42.0
        } else if q[1] > -10.0 {
            40.0
        } else {
            32.0
        };
        let (back, front) = (-48.0 * width, front * width);
        let edge = (q[0] - back).min(front - q[0]);
        if edge < 0.0 {
            return AIR;
        }
        if edge < 1.2 {
            return SKIN;
        }
        if edge < 7.0 {
            return FAT;
        }
        let popliteal = q[0] < -24.0 && q[1].abs() < 16.0 && q[0] > -40.0;
        let muscle = (q[0] < -22.0 && !popliteal)
            || (q[0] > 22.0 && q[1] > 48.0)
            || (q[0] > 16.0 && q[1] < -26.0);
        if muscle {
            let fibres = 0.04 * value_noise(q[0] / 6.0, q[1] / 1.2, self.texture_seed ^ 13);
            MUSCLE + fibres + 0.02 * texture(3.0, 17)
        } else {
            FAT + 0.02 * texture(2.0, 19)
        }
    }
}
