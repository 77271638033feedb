//! Meniscal tears, drawn as they show on proton-density fat-suppressed images: fluid-bright
//! signal inside the dark meniscus that reaches its surface.
//!
//! - horizontal (cleavage): a bright line along the posterior horn, parallel to the tibial
//!   plateau, from the inner (free) edge most of the way to the capsule, on every slice through
//!   that meniscus;
//! - radial: a cleft across the meniscus: on a narrow band of mediolateral positions the
//!   posterior horn is replaced by fluid over 4 mm (the "ghost meniscus" of a sagittal slice, a gap in the
//!   body on a coronal one);
//! - bucket-handle: the inner part of the posterior horn torn off and flipped into the
//!   intercondylar notch, where it lies under the PCL as a second dark band (the "double PCL"
//!   sign); the horn left behind is truncated.
//!
//! The meniscus itself is a pair of wedges in the tibial frame (posterior horn from 14 to 25 mm
//! behind the joint centre, anterior horn from 13 to 22 mm in front), on each side of the notch.

use serde::{Deserialize, Serialize};

use super::shapes::{P2, segment_distance};
use super::tissue::{FLUID, MENISCUS};

/// Which meniscus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The medial meniscus (positive `x`), torn about twice as often.
    Medial,
    /// The lateral meniscus (negative `x`).
    Lateral,
}

/// The shape of a tear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TearKind {
    /// Parallel to the plateau, splitting the horn into upper and lower leaves.
    Horizontal,
    /// Across the meniscus, from its free edge outwards.
    Radial,
    /// A displaced longitudinal tear: the inner fragment lies in the notch.
    BucketHandle,
}

/// One meniscal tear.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeniscalTear {
    /// Which meniscus.
    pub side: Side,
    /// Its shape.
    pub kind: TearKind,
    /// Distance of a radial cleft from the notch's middle, mm (20 to 30).
    pub at_mm: f32,
}

/// Signal of a tear: fluid in the cleft, a little darker than free fluid.
const TEAR: f32 = FLUID * 0.85;

/// Where a meniscus is, and what a tear makes of it.
#[derive(Debug, Clone, Copy)]
pub struct Menisci {
    /// Half the width of the intercondylar notch, mm: the menisci lie beyond it.
    pub notch_half_width: f32,
    /// The tear, if any.
    pub tear: Option<MeniscalTear>,
}

impl Menisci {
    /// The menisci's signal at tibial-frame point `t` on the sagittal plane at `x` (positive
    /// medial), or `None` where there is no meniscus.
    pub fn sample(&self, t: P2, x: f32) -> Option<f32> {
        let ax = x.abs();
        if ax <= self.notch_half_width + 1.5 || ax >= 40.0 {
            return None;
        }
        let top = -1.5;
        // Where `t` falls in a wedge from `inner` to `outer`: its fraction outwards and its
        // height as a fraction of the wedge's there.
        let wedge = |inner: f32, outer: f32, height: f32| {
            let f = (t[0] - inner) / (outer - inner);
            let rise = f * height;
            ((0.0..=1.0).contains(&f) && t[1] >= top - 0.5 && t[1] < top + rise)
                .then(|| (f, (t[1] - top + 0.5) / (rise + 0.5)))
        };
        let posterior = wedge(-14.0, -25.0, 6.5);
        let anterior = wedge(13.0, 22.0, 5.0);
        let torn_side = self.tear.filter(|tear| match tear.side {
            Side::Medial => x > 0.0,
            Side::Lateral => x < 0.0,
        });
        match (posterior, torn_side) {
            (Some((f, h)), Some(tear)) => Some(match tear.kind {
                TearKind::Horizontal if f < 0.85 && (h - 0.45).abs() < 0.12 => TEAR,
                TearKind::Radial if (ax - tear.at_mm).abs() < 2.0 => TEAR,
                // The displaced inner fragment leaves fluid where it was.
                TearKind::BucketHandle if f < 0.45 => TEAR,
                _ => MENISCUS,
            }),
            (Some(_), None) => Some(MENISCUS),
            (None, _) => anterior.map(|_| MENISCUS),
        }
    }

    /// A bucket-handle fragment in the notch at tibial-frame point `t`, plane `x`: a dark band
    /// along the plateau under the PCL, on the torn side of the notch's middle.
    pub fn displaced_fragment(&self, t: P2, x: f32) -> Option<f32> {
        let tear = self.tear.filter(|t| t.kind == TearKind::BucketHandle)?;
        let lateral_x = match tear.side {
            Side::Medial => x,
            Side::Lateral => -x,
        };
        ((0.5..5.0).contains(&lateral_x) && segment_distance(t, [-13.0, 1.0], [6.0, 2.5]) < 1.6)
            .then_some(MENISCUS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menisci(kind: TearKind) -> Menisci {
        Menisci {
            notch_half_width: 10.0,
            tear: Some(MeniscalTear {
                side: Side::Medial,
                kind,
                at_mm: 25.0,
            }),
        }
    }

    #[test]
    fn each_tear_brightens_only_its_own_meniscus() {
        let intact = Menisci {
            notch_half_width: 10.0,
            tear: None,
        };
        // A point inside the posterior horn, at mid-height.
        let mid = [-20.0, -1.5 + 0.45 * (6.0 / 11.0 * 6.5 + 0.5) - 0.5];
        assert_eq!(intact.sample(mid, 25.0), Some(MENISCUS));
        let horizontal = menisci(TearKind::Horizontal);
        assert_eq!(horizontal.sample(mid, 25.0), Some(TEAR));
        assert_eq!(
            horizontal.sample(mid, -25.0),
            Some(MENISCUS),
            "lateral intact"
        );
        let radial = menisci(TearKind::Radial);
        assert_eq!(radial.sample(mid, 25.0), Some(TEAR));
        assert_eq!(radial.sample(mid, 30.0), Some(MENISCUS), "beside the cleft");
        assert_eq!(radial.sample(mid, 23.5), Some(TEAR), "a cleft 4 mm wide");
        let bucket = menisci(TearKind::BucketHandle);
        assert_eq!(
            bucket.sample([-15.0, -1.0], 25.0),
            Some(TEAR),
            "inner part gone"
        );
        assert_eq!(bucket.displaced_fragment([-4.0, 1.75], 2.0), Some(MENISCUS));
        assert_eq!(bucket.displaced_fragment([-4.0, 1.75], -2.0), None);
        assert_eq!(intact.displaced_fragment([-4.0, 1.75], 2.0), None);
    }
}
