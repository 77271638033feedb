//! Typed raw arrays (as numpy, NIfTI and pickles store them) converted to f32.

/// The numeric kind of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// Signed integer.
    Int,
    /// Unsigned integer (bool is read as a 1-byte unsigned integer).
    Uint,
    /// IEEE float.
    Float,
}

/// The type of one element of a raw array: kind, width in bytes and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementType {
    /// Integer or float.
    pub kind: ElementKind,
    /// Width in bytes: 1, 2, 4 or 8.
    pub bytes: usize,
    /// True when the most significant byte comes first.
    pub big_endian: bool,
}

impl ElementType {
    /// A type, or `None` for widths that no reader here supports (e.g. 1-byte float).
    pub fn new(kind: ElementKind, bytes: usize, big_endian: bool) -> Option<Self> {
        let ok = match kind {
            ElementKind::Int | ElementKind::Uint => matches!(bytes, 1 | 2 | 4 | 8),
            ElementKind::Float => matches!(bytes, 4 | 8),
        };
        ok.then_some(Self {
            kind,
            bytes,
            big_endian,
        })
    }

    /// Parses a numpy type string such as `<u2`, `>f4`, `|u1`, `b1`.
    pub fn from_numpy(descr: &str) -> Option<Self> {
        let (big_endian, rest) = match descr.as_bytes().first()? {
            b'>' => (true, &descr[1..]),
            b'<' | b'|' | b'=' => (false, &descr[1..]),
            _ => (false, descr),
        };
        let mut chars = rest.chars();
        let kind = match chars.next()? {
            'i' => ElementKind::Int,
            'u' | 'b' => ElementKind::Uint,
            'f' => ElementKind::Float,
            _ => return None,
        };
        let bytes: usize = chars.as_str().parse().ok()?;
        Self::new(kind, bytes, big_endian)
    }

    /// The numpy-style name of this type (`uint16`, `float32`, ...).
    pub fn name(&self) -> String {
        let kind = match self.kind {
            ElementKind::Int => "int",
            ElementKind::Uint => "uint",
            ElementKind::Float => "float",
        };
        format!("{kind}{}", self.bytes * 8)
    }

    /// Converts `count` elements from the start of `raw` to f32, or `None` when `raw` is short.
    pub fn decode(&self, raw: &[u8], count: usize) -> Option<Vec<f32>> {
        let needed = count.checked_mul(self.bytes)?;
        let raw = raw.get(..needed)?;
        Some(
            raw.chunks_exact(self.bytes)
                .map(|b| self.decode_one(b))
                .collect(),
        )
    }

    fn decode_one(&self, b: &[u8]) -> f32 {
        let mut buf = [0u8; 8];
        buf[..self.bytes].copy_from_slice(b);
        if self.big_endian {
            buf[..self.bytes].reverse();
        }
        let bits = u64::from_le_bytes(buf);
        match (self.kind, self.bytes) {
            (ElementKind::Float, 4) => f32::from_bits(bits as u32),
            (ElementKind::Float, _) => f64::from_bits(bits) as f32,
            (ElementKind::Uint, _) => bits as f32,
            (ElementKind::Int, n) => {
                let shift = 64 - 8 * n as u32;
                (((bits << shift) as i64) >> shift) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_type_strings() {
        let t = ElementType::from_numpy("<u2").unwrap();
        assert_eq!(
            (t.kind, t.bytes, t.big_endian),
            (ElementKind::Uint, 2, false)
        );
        let t = ElementType::from_numpy(">f4").unwrap();
        assert_eq!(
            (t.kind, t.bytes, t.big_endian),
            (ElementKind::Float, 4, true)
        );
        assert_eq!(
            ElementType::from_numpy("|b1").unwrap().kind,
            ElementKind::Uint
        );
        assert!(ElementType::from_numpy("<c8").is_none());
        assert!(ElementType::from_numpy("<f2").is_none());
        assert!(ElementType::from_numpy("").is_none());
    }

    #[test]
    fn decodes_signed_and_big_endian_values() {
        let t = ElementType::new(ElementKind::Int, 2, true).unwrap();
        assert_eq!(
            t.decode(&[0xff, 0xfe, 0x01, 0x00], 2).unwrap(),
            vec![-2.0, 256.0]
        );
        let t = ElementType::new(ElementKind::Int, 1, false).unwrap();
        assert_eq!(t.decode(&[0x80, 0x7f], 2).unwrap(), vec![-128.0, 127.0]);
        let t = ElementType::new(ElementKind::Float, 8, false).unwrap();
        assert_eq!(t.decode(&1.5f64.to_le_bytes(), 1).unwrap(), vec![1.5]);
        let t = ElementType::new(ElementKind::Uint, 4, false).unwrap();
        assert!(t.decode(&[0, 0, 0], 1).is_none(), "short input is refused");
    }
}

/// A raw n-dimensional array as numpy stores it: shape, element type, memory order, bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawArray<'a> {
    pub shape: &'a [u64],
    pub element: ElementType,
    pub fortran_order: bool,
    pub bytes: &'a [u8],
}

impl RawArray<'_> {
    /// The array as f32 voxels `[slices, rows, cols]`: 3-D arrays as they are, 2-D arrays as one
    /// slice, leading axes of length 1 dropped.
    pub fn into_volume_data(self) -> std::result::Result<(Vec<f32>, [usize; 3]), crate::ErrorKind> {
        use crate::ErrorKind;
        let mut dims: Vec<u64> = self.shape.to_vec();
        while dims.len() > 3 && dims[0] == 1 {
            dims.remove(0);
        }
        let shape3: [u64; 3] = match dims.as_slice() {
            [s, r, c] => [*s, *r, *c],
            [r, c] => [1, *r, *c],
            _ => {
                return Err(ErrorKind::invalid(format!(
                    "array of shape {:?}: a volume needs 3 axes (slices, rows, cols)",
                    self.shape
                )));
            }
        };
        let count = crate::limits::voxel_count(&shape3).ok_or_else(|| {
            ErrorKind::Limit(format!("array of shape {:?} is too large", self.shape))
        })?;
        if count == 0 {
            return Err(ErrorKind::Empty(format!(
                "array of shape {:?} holds no voxels",
                self.shape
            )));
        }
        let values = self.element.decode(self.bytes, count).ok_or_else(|| {
            ErrorKind::Truncated(format!(
                "shape {:?} of {} needs {} bytes of data, found {}",
                self.shape,
                self.element.name(),
                count as u128 * self.element.bytes as u128,
                self.bytes.len()
            ))
        })?;
        let [s, r, c] = shape3.map(|d| d as usize);
        let data = if self.fortran_order {
            fortran_to_c(&values, [s, r, c])
        } else {
            values
        };
        Ok((data, [s, r, c]))
    }
}

fn fortran_to_c(values: &[f32], [s, r, c]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for k in 0..c {
        for j in 0..r {
            for i in 0..s {
                out[(i * r + j) * c + k] = values[i + j * s + k * s * r];
            }
        }
    }
    out
}

#[cfg(test)]
mod raw_tests {
    use super::*;

    #[test]
    fn fortran_arrays_are_reordered_to_c_order() {
        // numpy: np.arange(6).reshape(1,2,3) in Fortran order stores 0,3,1,4,2,5.
        let bytes: Vec<u8> = [0u8, 3, 1, 4, 2, 5].to_vec();
        let element = ElementType::new(ElementKind::Uint, 1, false).unwrap();
        let raw = RawArray {
            shape: &[1, 2, 3],
            element,
            fortran_order: true,
            bytes: &bytes,
        };
        let (data, shape) = raw.into_volume_data().unwrap();
        assert_eq!(shape, [1, 2, 3]);
        assert_eq!(data, vec![0., 1., 2., 3., 4., 5.]);
    }

    #[test]
    fn wrong_ranks_and_short_data_are_refused() {
        let element = ElementType::new(ElementKind::Uint, 1, false).unwrap();
        let raw = RawArray {
            shape: &[4],
            element,
            fortran_order: false,
            bytes: &[0; 4],
        };
        assert!(raw.into_volume_data().is_err());
        let raw = RawArray {
            shape: &[2, 2, 2],
            element,
            fortran_order: false,
            bytes: &[0; 7],
        };
        assert!(matches!(
            raw.into_volume_data(),
            Err(crate::ErrorKind::Truncated(_))
        ));
        let raw = RawArray {
            shape: &[1, 1, 3, 2],
            element,
            fortran_order: false,
            bytes: &[0; 6],
        };
        assert_eq!(raw.into_volume_data().unwrap().1, [1, 3, 2]);
        let huge = [1u64 << 40, 1 << 40, 1 << 40];
        let raw = RawArray {
            shape: &huge,
            element,
            fortran_order: false,
            bytes: &[],
        };
        assert!(matches!(
            raw.into_volume_data(),
            Err(crate::ErrorKind::Limit(_))
        ));
    }
}
