//! Safety limits that keep a hostile or broken file from exhausting memory.

/// Most voxels one volume may hold (2^31: 8 GiB of f32).
pub const MAX_VOXELS: u64 = 1 << 31;
/// Most bytes a gzip stream may expand to.
pub const MAX_GUNZIP_BYTES: u64 = 4 << 30;
/// Most bytes all entries of a zip archive may expand to together.
pub const MAX_ZIP_BYTES: u64 = 4 << 30;
/// Most entries a zip archive may hold.
pub const MAX_ZIP_ENTRIES: usize = 20_000;
/// Most files a DICOM folder walk looks at.
pub const MAX_FOLDER_FILES: usize = 100_000;

/// The voxel count of `shape`, or `None` when it overflows or passes [`MAX_VOXELS`].
pub fn voxel_count(shape: &[u64]) -> Option<usize> {
    let mut n: u64 = 1;
    for &d in shape {
        n = n.checked_mul(d)?;
    }
    (n <= MAX_VOXELS).then_some(n as usize)
}
