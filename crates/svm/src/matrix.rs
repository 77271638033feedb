//! A dense row-major matrix of feature vectors, one row per exam.

use serde::{Deserialize, Serialize};

use crate::SvmError;

/// Feature vectors, one row per exam, in one row-major buffer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A matrix of `rows` rows of `cols` values from `data` (row-major); every value must be
    /// finite.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self, SvmError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(SvmError::Input(format!(
                "{} values do not make {rows} rows of {cols}",
                data.len()
            )));
        }
        if let Some(at) = data.iter().position(|v| !v.is_finite()) {
            return Err(SvmError::Input(format!(
                "row {} holds a non-finite value",
                at / cols.max(1)
            )));
        }
        Ok(Self { rows, cols, data })
    }

    /// A matrix from rows of equal width.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, SvmError> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some(r) = rows.iter().position(|r| r.len() != cols) {
            return Err(SvmError::Input(format!(
                "row {r} has {} values, row 0 has {cols}",
                rows[r].len()
            )));
        }
        Self::new(rows.len(), cols, rows.concat())
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Self {
            rows: indices.len(),
            cols: self.cols,
            data,
        }
    }

    /// True when the shape matches the values and every value is finite (a matrix read from a
    /// file is checked before use).
    pub fn is_consistent(&self) -> bool {
        self.rows.checked_mul(self.cols) == Some(self.data.len())
            && self.data.iter().all(|v| v.is_finite())
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Every value, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }

    /// The rows one by one.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    pub(crate) fn map_rows(&self, f: impl Fn(&[f32], &mut [f32])) -> Self {
        let mut data = vec![0.0; self.data.len()];
        for (src, dst) in self
            .iter_rows()
            .zip(data.chunks_exact_mut(self.cols.max(1)))
        {
            f(src, dst);
        }
        Self { data, ..*self }
    }
}
