//! Safety limits that keep a hostile or broken file from exhausting memory.

/// Most voxels one volume may hold (2^28: 1 GiB of f32, a 512 x 512 x 1024 stack).
pub const MAX_VOXELS: u64 = 1 << 28;

/// How far a reader may let an archive or folder expand before refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes a gzip stream may expand to.
    pub gunzip_bytes: u64,
    /// Most bytes all entries of a zip archive may expand to together.
    pub zip_bytes: u64,
    /// Most entries a zip archive may hold.
    pub zip_entries: usize,
    /// Most files a DICOM folder walk looks at.
    pub folder_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            gunzip_bytes: 1 << 30,
            zip_bytes: 1 << 30,
            zip_entries: 20_000,
            folder_files: 100_000,
        }
    }
}

/// The voxel count of `shape`, or `None` when it overflows or passes [`MAX_VOXELS`].
pub fn voxel_count(shape: &[u64]) -> Option<usize> {
    let mut n: u64 = 1;
    for &d in shape {
        n = n.checked_mul(d)?;
    }
    (n <= MAX_VOXELS).then_some(n as usize)
}
