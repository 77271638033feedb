//! The anterior cruciate ligament, drawn as its grade shows on sagittal PD-FS images.
//!
//! - 0 healthy: a taut dark band, striated by its bundles, from high in the notch (femoral
//!   attachment, posterior) to the anterior tibial intercondylar area, parallel to the roof.
//! - 1 minor strain: thickened, raised signal inside, fibres continuous.
//! - 2 partial tear: along a stretch of the band, part of its thickness is replaced by bright
//!   focal signal while the other fibres stay intact; the band bends slightly.
//! - 3 complete tear: no continuous fibres; a proximal stump turned flatter than the roof, a
//!   wavy distal stump and a bright oedematous mass between them.

use super::shapes::{P2, along_across, ellipse_level, rotate, segment_distance, value_noise};
use super::tissue::{FLUID, LIGAMENT};

/// One ACL's geometry and appearance.
#[derive(Debug, Clone)]
pub struct Acl {
    /// 0 healthy, 1 minor strain, 2 partial tear, 3 complete tear.
    pub grade: u8,
    /// Mediolateral centre of the ligament, mm (negative: lateral to the notch middle).
    pub centre_x: f32,
    /// Half its mediolateral extent, mm.
    pub half_width: f32,
    /// Femoral attachment (femoral frame).
    pub femoral: P2,
    /// Tibial attachment (tibial frame).
    pub tibial: P2,
    /// Half the band's thickness, mm.
    pub radius: f32,
    /// How much a strain thickens the band (1 = not at all).
    pub thickening: f32,
    /// Signal inside a strained band.
    pub strain_signal: f32,
    /// Start and length of the torn stretch along the band (0..1) for a partial tear.
    pub gap: (f32, f32),
    /// Signal of tears, oedema and the torn mass.
    pub lesion_signal: f32,
    /// How much flatter than the roof the proximal stump of a complete tear lies, radians.
    pub stump_turn: f32,
    /// Phase of the bundle striation.
    pub stripe_phase: f32,
    /// Seed of the lesion texture.
    pub seed: u32,
}

impl Acl {
    /// The ACL's signal at `q` on the plane at `x`, or `None` where it is not; `tibial` is its
    /// tibial attachment in the femoral frame (it moves with the knee's flexion and shift).
    pub fn sample(&self, tibial: P2, q: P2, x: f32) -> Option<f32> {
        if (x - self.centre_x).abs() > self.half_width {
            return None;
        }
        let f = self.femoral;
        let t = tibial;
        match self.grade {
            0 => self.fibres(q, f, t, self.radius, LIGAMENT),
            1 => self.fibres(q, f, t, self.radius * self.thickening, self.strain_signal),
            2 => self.partial(q, f, t),
            _ => self.complete(q, f, t),
        }
    }

    /// A striated band from `a` to `b`.
    fn fibres(&self, q: P2, a: P2, b: P2, radius: f32, base: f32) -> Option<f32> {
        if segment_distance(q, a, b) >= radius {
            return None;
        }
        let (_, across) = along_across(q, a, b);
        let stripe =
            ((across * std::f32::consts::TAU / 1.8 + self.stripe_phase).sin() - 0.55).max(0.0);
        Some(base + 0.08 * stripe)
    }

    fn partial(&self, q: P2, a: P2, b: P2) -> Option<f32> {
        let (along, across) = along_across(q, a, b);
        // A slight sag of the band's axis in its torn middle.
        let sag = 1.2 * (std::f32::consts::PI * along.clamp(0.0, 1.0)).sin();
        let across = across + sag;
        let inside = (0.0..=1.0).contains(&along) && across.abs() < self.radius
            || segment_distance(q, a, b) < self.radius
                && along.is_finite()
                && !(0.0..=1.0).contains(&along);
        if !inside {
            return None;
        }
        let (start, length) = self.gap;
        let torn = along > start && along < start + length && across > -0.15 * self.radius;
        if torn {
            return Some(self.lesion_signal + 0.08 * value_noise(q[0], q[1], self.seed));
        }
        let stripe =
            ((across * std::f32::consts::TAU / 1.8 + self.stripe_phase).sin() - 0.55).max(0.0);
        Some(LIGAMENT + 0.08 * stripe)
    }

    fn complete(&self, q: P2, a: P2, b: P2) -> Option<f32> {
        let axis = [b[0] - a[0], b[1] - a[1]];
        let length = (axis[0] * axis[0] + axis[1] * axis[1]).sqrt();
        // Proximal stump: turned flatter than the roof.
        let turned = rotate(
            [a[0] + axis[0] * 0.35, a[1] + axis[1] * 0.35],
            a,
            self.stump_turn,
        );
        if let Some(s) = self.fibres(q, a, turned, self.radius * 0.9, LIGAMENT + 0.03) {
            return Some(s);
        }
        // Distal stump: wavy, lax.
        let start = [b[0] - axis[0] * 0.3, b[1] - axis[1] * 0.3];
        let (along, across) = along_across(q, start, b);
        if (0.0..=1.0).contains(&along) {
            let wave = 1.3 * (along * length * 0.3 * std::f32::consts::TAU / 6.0).sin();
            if (across - wave).abs() < self.radius * 0.85 {
                return Some(LIGAMENT + 0.05);
            }
        }
        // The torn mass of oedema and haemorrhage in the notch.
        let middle = [a[0] + axis[0] * 0.55, a[1] + axis[1] * 0.55 + 1.0];
        let angle = axis[1].atan2(axis[0]);
        let level = ellipse_level(
            q,
            middle,
            [length * 0.28, self.radius * 1.7],
            angle.sin_cos(),
        );
        (level < 1.0).then(|| {
            let blotch = 0.1 * value_noise(q[0] / 1.5, q[1] / 1.5, self.seed);
            (self.lesion_signal + blotch).min(FLUID)
        })
    }
}
