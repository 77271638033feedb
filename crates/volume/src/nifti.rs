//! NIfTI-1 and NIfTI-2 files (`.nii`, and `.nii.gz` once un-gzipped), in either byte order.
//!
//! Why not the `nifti` crate: version 0.18 reads NIfTI-1 only (its header type has 16-bit
//! dimensions and no NIfTI-2 layout), and a second code path just for NIfTI-2 would duplicate
//! the geometry and scaling logic. Both headers are fixed binary layouts, parsed here into one
//! [`Header`] and read by one code path.
//!
//! Axes: NIfTI's third voxel axis (k) is the slice axis, j the rows and i the columns, so a
//! file of `dim = [nx, ny, nz]` becomes a volume of shape `[nz, ny, nx]` with no reordering.
//! The plane comes from the sform when set, else the qform; RAS coordinates are converted to
//! the LPS of [`crate::Orientation`]. 4-D (and higher) files give their first volume and say so.

use std::path::Path;

use crate::elements::{ElementKind, ElementType, RawArray};
use crate::error::{ErrorKind, ReadError, Result};
use crate::geometry::{Orientation, unit};
use crate::volume::{Format, SourceMetadata, Volume};

/// The parts of a NIfTI-1 or NIfTI-2 header that reading a volume needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    /// True for big-endian files.
    pub big_endian: bool,
    /// `dim[0..8]`: rank, then the length of each axis.
    pub dim: [i64; 8],
    /// The NIfTI datatype code.
    pub datatype: i16,
    /// `pixdim[0..8]`: qfac, then voxel sizes.
    pub pixdim: [f64; 8],
    /// Offset of the voxel data.
    pub vox_offset: f64,
    /// Intensity scale (0 means none).
    pub scl_slope: f64,
    /// Intensity offset.
    pub scl_inter: f64,
    /// Free-text description.
    pub descrip: String,
    /// qform code (0: no quaternion geometry).
    pub qform_code: i32,
    /// sform code (0: no affine geometry).
    pub sform_code: i32,
    /// quatern_b, quatern_c, quatern_d.
    pub quatern: [f64; 3],
    /// qoffset_x, qoffset_y, qoffset_z.
    pub qoffset: [f64; 3],
    /// srow_x, srow_y, srow_z.
    pub srow: [[f64; 4]; 3],
    /// True for header-only files (`ni1` / `ni2` magic): the voxels are in a `.img` file.
    pub header_only: bool,
}

struct Fields<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Fields<'_> {
    fn raw<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b: [u8; N] = self.bytes[at..at + N]
            .try_into()
            .expect("header length checked");
        if self.big_endian {
            b.reverse();
        }
        b
    }
    fn i16(&self, at: usize) -> i64 {
        i16::from_le_bytes(self.raw(at)) as i64
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.raw(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.raw(at))
    }
    fn f32(&self, at: usize) -> f64 {
        f32::from_le_bytes(self.raw(at)) as f64
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.raw(at))
    }
    fn text(&self, at: usize, len: usize) -> String {
        let b = &self.bytes[at..at + len];
        let end = b.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&b[..end]).trim().to_string()
    }
}

impl Header {
    /// Parses a NIfTI-1 or NIfTI-2 header from the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, ErrorKind> {
        let head = bytes
            .get(..4)
            .ok_or_else(|| ErrorKind::Truncated("no NIfTI header".into()))?;
        let size_le = i32::from_le_bytes(head.try_into().expect("4 bytes"));
        let size_be = i32::from_be_bytes(head.try_into().expect("4 bytes"));
        let (size, big_endian) = match (size_le, size_be) {
            (348, _) | (540, _) => (size_le as usize, false),
            (_, 348) | (_, 540) => (size_be as usize, true),
            _ => return Err(ErrorKind::invalid("sizeof_hdr is neither 348 nor 540")),
        };
        if bytes.len() < size {
            return Err(ErrorKind::Truncated(format!(
                "header needs {size} bytes, file has {}",
                bytes.len()
            )));
        }
        let f = Fields { bytes, big_endian };
        if size == 348 {
            Self::parse_v1(&f)
        } else {
            Self::parse_v2(&f)
        }
    }

    fn parse_v1(f: &Fields) -> std::result::Result<Self, ErrorKind> {
        let magic = &f.bytes[344..348];
        if magic != b"n+1\0" && magic != b"ni1\0" {
            return Err(ErrorKind::invalid(
                "348-byte header without NIfTI-1 magic (Analyze 7.5?)",
            ));
        }
        Ok(Self {
            version: 1,
            big_endian: f.big_endian,
            dim: std::array::from_fn(|i| f.i16(40 + 2 * i)),
            datatype: f.i16(70) as i16,
            pixdim: std::array::from_fn(|i| f.f32(76 + 4 * i)),
            vox_offset: f.f32(108),
            scl_slope: f.f32(112),
            scl_inter: f.f32(116),
            descrip: f.text(148, 80),
            qform_code: f.i16(252) as i32,
            sform_code: f.i16(254) as i32,
            quatern: std::array::from_fn(|i| f.f32(256 + 4 * i)),
            qoffset: std::array::from_fn(|i| f.f32(268 + 4 * i)),
            srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f32(280 + 16 * r + 4 * c))),
            header_only: magic == b"ni1\0",
        })
    }

    fn parse_v2(f: &Fields) -> std::result::Result<Self, ErrorKind> {
        let magic = &f.bytes[4..8];
        if magic != b"n+2\0" && magic != b"ni2\0" {
            return Err(ErrorKind::invalid("540-byte header without NIfTI-2 magic"));
        }
        Ok(Self {
            version: 2,
            big_endian: f.big_endian,
            dim: std::array::from_fn(|i| f.i64(16 + 8 * i)),
            datatype: f.i16(12) as i16,
            pixdim: std::array::from_fn(|i| f.f64(104 + 8 * i)),
            vox_offset: f.i64(168) as f64,
            scl_slope: f.f64(176),
            scl_inter: f.f64(184),
            descrip: f.text(240, 80),
            qform_code: f.i32(344),
            sform_code: f.i32(348),
            quatern: std::array::from_fn(|i| f.f64(352 + 8 * i)),
            qoffset: std::array::from_fn(|i| f.f64(376 + 8 * i)),
            srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f64(400 + 32 * r + 8 * c))),
            header_only: magic == b"ni2\0",
        })
    }

    /// The element type of the voxels, or `None` for types that are not scalar numbers.
    pub fn element_type(&self) -> Option<ElementType> {
        let (kind, bytes) = match self.datatype {
            2 => (ElementKind::Uint, 1),
            4 => (ElementKind::Int, 2),
            8 => (ElementKind::Int, 4),
            16 => (ElementKind::Float, 4),
            64 => (ElementKind::Float, 8),
            256 => (ElementKind::Int, 1),
            512 => (ElementKind::Uint, 2),
            768 => (ElementKind::Uint, 4),
            1024 => (ElementKind::Int, 8),
            1280 => (ElementKind::Uint, 8),
            _ => return None,
        };
        ElementType::new(kind, bytes, self.big_endian)
    }

    /// The voxel-to-RAS affine (3 rows of 4): the sform when set, else the qform, else `None`.
    pub fn affine(&self) -> Option<[[f64; 4]; 3]> {
        if self.sform_code > 0 {
            return Some(self.srow);
        }
        if self.qform_code > 0 {
            return Some(self.qform_affine());
        }
        None
    }

    fn qform_affine(&self) -> [[f64; 4]; 3] {
        let [b, c, d] = self.quatern;
        let a2 = 1.0 - (b * b + c * c + d * d);
        let a = if a2 > 0.0 { a2.sqrt() } else { 0.0 };
        let r = [
            [
                a * a + b * b - c * c - d * d,
                2. * (b * c - a * d),
                2. * (b * d + a * c),
            ],
            [
                2. * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2. * (c * d - a * b),
            ],
            [
                2. * (b * d - a * c),
                2. * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let qfac = if self.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let scale = [self.pixdim[1], self.pixdim[2], self.pixdim[3] * qfac];
        std::array::from_fn(|row| {
            [
                r[row][0] * scale[0],
                r[row][1] * scale[1],
                r[row][2] * scale[2],
                self.qoffset[row],
            ]
        })
    }
}

/// Reads a NIfTI-1 or NIfTI-2 file held in `bytes` (already un-gzipped).
pub fn read(path: &Path, bytes: &[u8]) -> Result<Volume> {
    let err = |kind| ReadError::new(path, kind);
    let header = Header::parse(bytes).map_err(err)?;
    if header.header_only {
        return Err(err(ErrorKind::NotAnImage(
            "header-only NIfTI (.hdr): its voxels are in a separate .img file; give a single-file .nii or .nii.gz"
                .into(),
        )));
    }
    let rank = header.dim[0];
    if !(1..=7).contains(&rank) {
        return Err(err(ErrorKind::invalid(format!(
            "dim[0] = {rank} is not a rank from 1 to 7"
        ))));
    }
    let dims = &header.dim[1..=rank as usize];
    if let Some(bad) = dims.iter().find(|&&d| d < 1) {
        return Err(err(ErrorKind::invalid(format!(
            "axis length {bad} in dim {:?}",
            dims
        ))));
    }
    let axis = |i: usize| dims.get(i).copied().unwrap_or(1) as u64;
    let (nx, ny, nz) = (axis(0), axis(1), axis(2));
    let extra: u64 = dims.iter().skip(3).map(|&d| d as u64).product();
    let element = header.element_type().ok_or_else(|| {
        err(ErrorKind::invalid(format!(
            "datatype {} is not a scalar number type",
            header.datatype
        )))
    })?;
    let offset = header.vox_offset;
    let min_offset = if header.version == 1 { 348.0 } else { 540.0 };
    if !offset.is_finite() || offset < min_offset || offset > bytes.len() as f64 {
        return Err(err(ErrorKind::Truncated(format!(
            "vox_offset {offset} lies outside the file of {} bytes",
            bytes.len()
        ))));
    }
    let shape = [nz, ny, nx];
    let raw = RawArray {
        shape: &shape,
        element,
        fortran_order: false,
        bytes: &bytes[offset as usize..],
    };
    let (mut data, shape) = raw.into_volume_data().map_err(err)?;
    if header.scl_slope != 0.0 && header.scl_slope.is_finite() && header.scl_inter.is_finite() {
        let (slope, inter) = (header.scl_slope as f32, header.scl_inter as f32);
        data.iter_mut().for_each(|v| *v = *v * slope + inter);
    }
    let format = if header.version == 1 {
        Format::Nifti1
    } else {
        Format::Nifti2
    };
    let mut meta = SourceMetadata::new(format, path.display().to_string());
    meta.stored_type = Some(element.name());
    meta.series_description = Some(header.descrip.clone()).filter(|d| !d.is_empty());
    if extra > 1 {
        meta.notes.push(format!(
            "{rank}-D file with {extra} volumes: the first volume was read"
        ));
    }
    let mut volume = Volume::new(data, shape, meta)
        .ok_or_else(|| err(ErrorKind::invalid("voxel count does not match the shape")))?;
    let pix = |i: usize| {
        let p = header.pixdim[i].abs();
        if p.is_finite() && p > 0.0 { p } else { 1.0 }
    };
    volume.spacing = [pix(3), pix(2), pix(1)];
    if let Some(affine) = header.affine() {
        apply_affine(&mut volume, affine);
    } else {
        volume
            .meta
            .notes
            .push("no qform or sform: orientation unknown".into());
    }
    Ok(volume)
}

fn apply_affine(volume: &mut Volume, affine: [[f64; 4]; 3]) {
    // RAS -> LPS: negate x and y.
    let lps = |v: [f64; 3]| [-v[0], -v[1], v[2]];
    let column = |c: usize| lps([affine[0][c], affine[1][c], affine[2][c]]);
    let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (i_axis, j_axis, k_axis) = (column(0), column(1), column(2));
    let (Some(row), Some(col), Some(slice)) = (unit(i_axis), unit(j_axis), unit(k_axis)) else {
        volume
            .meta
            .notes
            .push("degenerate affine: orientation unknown".into());
        return;
    };
    volume.spacing = [norm(k_axis), norm(j_axis), norm(i_axis)];
    let origin = lps([affine[0][3], affine[1][3], affine[2][3]]);
    let orientation = Orientation {
        row_direction: row,
        column_direction: col,
        slice_direction: slice,
        origin,
    };
    volume.orientation = Some(orientation);
    // The k axis, not row x column: a sheared affine still stacks its slices along k.
    volume.plane = crate::geometry::Plane::from_normal(slice);
}

/// Writes `volume` as a NIfTI-1 file of float32 voxels with an sform from its orientation
/// (the default sagittal geometry when it has none); gzipped when `path` ends in `.gz`.
pub fn write(path: &Path, volume: &Volume) -> std::io::Result<()> {
    let o = volume
        .orientation
        .unwrap_or_else(crate::geometry::default_sagittal);
    let [slice_mm, row_mm, col_mm] = volume.spacing;
    let ras = |v: [f64; 3]| [-v[0], -v[1], v[2]];
    let axes = [
        ras(o.row_direction),
        ras(o.column_direction),
        ras(o.slice_direction),
    ];
    let steps = [col_mm, row_mm, slice_mm];
    let origin = ras(o.origin);
    let mut h = vec![0u8; 352];
    let put =
        |h: &mut Vec<u8>, at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut h, 0, &348i32.to_le_bytes());
    let dims = [3, volume.cols(), volume.rows(), volume.slices(), 1, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        put(&mut h, 40 + 2 * i, &(*d as i16).to_le_bytes());
    }
    put(&mut h, 70, &16i16.to_le_bytes());
    put(&mut h, 72, &32i16.to_le_bytes());
    let pixdim = [1.0, col_mm, row_mm, slice_mm, 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pixdim.iter().enumerate() {
        put(&mut h, 76 + 4 * i, &(*p as f32).to_le_bytes());
    }
    put(&mut h, 108, &352f32.to_le_bytes());
    put(&mut h, 123, &[2]); // xyzt_units: mm
    let descrip = volume.meta.series_description.as_deref().unwrap_or("");
    let descrip = &descrip.as_bytes()[..descrip.len().min(79)];
    put(&mut h, 148, descrip);
    put(&mut h, 254, &1i16.to_le_bytes()); // sform_code: scanner
    for row in 0..3 {
        let values = [
            axes[0][row] * steps[0],
            axes[1][row] * steps[1],
            axes[2][row] * steps[2],
            origin[row],
        ];
        for (c, v) in values.iter().enumerate() {
            put(&mut h, 280 + 16 * row + 4 * c, &(*v as f32).to_le_bytes());
        }
    }
    put(&mut h, 344, b"n+1\0");
    let mut body = h;
    body.reserve(volume.data.len() * 4);
    for v in &volume.data {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let gz = path.extension().is_some_and(|e| e == "gz");
    crate::atomic::write_atomically(path, |w| {
        use std::io::Write;
        if gz {
            let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            enc.write_all(&body)?;
            enc.finish().map(|_| ())
        } else {
            w.write_all(&body)
        }
    })
}
