//! Where the voxels sit in the patient: orientation, acquisition plane, slice order.
//!
//! Patient coordinates are DICOM's LPS (x to the patient's left, y to posterior, z to head);
//! NIfTI's RAS affines are converted on reading.

use serde::{Deserialize, Serialize};

/// The plane an exam was acquired in, from the direction of its slice normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    /// Slices stacked left to right (normal along x): the plane for the ACL.
    Sagittal,
    /// Slices stacked front to back (normal along y).
    Coronal,
    /// Slices stacked foot to head (normal along z).
    Axial,
    /// The normal is more than about 37 degrees from every axis.
    Oblique,
    /// The file says nothing about orientation.
    Unknown,
}

impl Plane {
    /// The three planes a knee is acquired in (MRNet's), in its order.
    pub const ACQUIRED: [Plane; 3] = [Plane::Sagittal, Plane::Coronal, Plane::Axial];

    /// The plane whose normal is closest to `normal`; `Oblique` when no axis dominates
    /// (largest unit component below 0.8).
    pub fn from_normal(normal: [f64; 3]) -> Self {
        let Some(n) = unit(normal) else {
            return Plane::Unknown;
        };
        let (axis, largest) =
            n.iter()
                .map(|c| c.abs())
                .enumerate()
                .fold(
                    (0, 0.0),
                    |best, (i, c)| if c > best.1 { (i, c) } else { best },
                );
        if largest < 0.8 {
            return Plane::Oblique;
        }
        [Plane::Sagittal, Plane::Coronal, Plane::Axial][axis]
    }

    /// Parses a plane name as users write it (`sagittal`, `sag`, `coronal`, `axial`, `transverse`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sagittal" | "sag" => Some(Plane::Sagittal),
            "coronal" | "cor" => Some(Plane::Coronal),
            "axial" | "ax" | "transverse" | "tra" => Some(Plane::Axial),
            _ => None,
        }
    }

    /// The lower-case name used in reports and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
            Plane::Axial => "axial",
            Plane::Oblique => "oblique",
            Plane::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The voxel grid's place in patient space (LPS, mm).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Orientation {
    /// Unit direction of increasing column index (DICOM's first ImageOrientationPatient triplet).
    pub row_direction: [f64; 3],
    /// Unit direction of increasing row index (the second triplet).
    pub column_direction: [f64; 3],
    /// Unit direction of increasing slice index.
    pub slice_direction: [f64; 3],
    /// Patient position of the centre of voxel (0, 0, 0).
    pub origin: [f64; 3],
}

impl Orientation {
    /// An orientation from DICOM's ImageOrientationPatient, with slices along `row x column`.
    pub fn from_dicom(iop: [f64; 6], origin: [f64; 3]) -> Option<Self> {
        let row = unit([iop[0], iop[1], iop[2]])?;
        let column = unit([iop[3], iop[4], iop[5]])?;
        let slice = unit(cross(row, column))?;
        Some(Self {
            row_direction: row,
            column_direction: column,
            slice_direction: slice,
            origin,
        })
    }

    /// The acquisition plane: the one the slice normal (row x column) points out of.
    pub fn plane(&self) -> Plane {
        Plane::from_normal(cross(self.row_direction, self.column_direction))
    }
}

/// `a x b`.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `a . b`.
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `v` scaled to length 1, or `None` for a zero or non-finite vector.
pub fn unit(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(v, v).sqrt();
    (n.is_finite() && n > 1e-9).then(|| [v[0] / n, v[1] / n, v[2] / n])
}

/// The order that sorts slices by their position along `normal` (first slice lowest), and the
/// positions in that order. Ties keep their input order.
pub fn order_along(normal: [f64; 3], positions: &[[f64; 3]]) -> (Vec<usize>, Vec<f64>) {
    let along: Vec<f64> = positions.iter().map(|p| dot(*p, normal)).collect();
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by(|&a, &b| along[a].total_cmp(&along[b]));
    let sorted = order.iter().map(|&i| along[i]).collect();
    (order, sorted)
}

/// The slice spacing from sorted positions along the normal: the median gap, or `None` with
/// fewer than two slices or all gaps zero.
pub fn median_gap(sorted_positions: &[f64]) -> Option<f64> {
    let mut gaps: Vec<f64> = sorted_positions.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    let g = gaps[gaps.len() / 2];
    (g > 1e-6).then_some(g)
}

/// The default sagittal geometry used when a volume has none: rows run anterior to
/// posterior, columns head to foot, slices along -x.
pub fn default_sagittal() -> Orientation {
    Orientation::from_dicom([0.0, 1.0, 0.0, 0.0, 0.0, -1.0], [0.0; 3]).expect("unit axes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_follows_the_slice_normal() {
        // Sagittal DICOM: rows along y (posterior), columns along -z.
        let sag = Orientation::from_dicom([0., 1., 0., 0., 0., -1.], [0.; 3]).unwrap();
        assert_eq!(sag.plane(), Plane::Sagittal);
        let cor = Orientation::from_dicom([1., 0., 0., 0., 0., -1.], [0.; 3]).unwrap();
        assert_eq!(cor.plane(), Plane::Coronal);
        let ax = Orientation::from_dicom([1., 0., 0., 0., 1., 0.], [0.; 3]).unwrap();
        assert_eq!(ax.plane(), Plane::Axial);
    }

    #[test]
    fn slightly_tilted_planes_keep_their_name_and_45_degrees_is_oblique() {
        let t = 20f64.to_radians();
        assert_eq!(Plane::from_normal([t.cos(), t.sin(), 0.]), Plane::Sagittal);
        let t = 45f64.to_radians();
        assert_eq!(Plane::from_normal([t.cos(), 0., t.sin()]), Plane::Oblique);
        assert_eq!(Plane::from_normal([0., 0., 0.]), Plane::Unknown);
        assert_eq!(Plane::from_normal([f64::NAN, 0., 1.]), Plane::Unknown);
    }

    #[test]
    fn slices_are_ordered_along_the_normal_not_by_input_order() {
        let normal = [1., 0., 0.];
        let positions = [[6., 5., 1.], [-2., 0., 0.], [2., 9., 9.]];
        let (order, along) = order_along(normal, &positions);
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(along, vec![-2., 2., 6.]);
        assert_eq!(median_gap(&along), Some(4.0));
        assert_eq!(median_gap(&[1.0]), None);
        assert_eq!(median_gap(&[1.0, 1.0]), None);
    }

    #[test]
    fn plane_names_parse() {
        assert_eq!(Plane::from_name("SAG"), Some(Plane::Sagittal));
        assert_eq!(Plane::from_name("transverse"), Some(Plane::Axial));
        assert_eq!(Plane::from_name("knee"), None);
    }
}
