//! Grey slices into the 3-channel input ImageNet backbones expect.

/// `[slices, rows, cols]` voxels repeated into `[slices, channels, rows, cols]`.
pub fn repeat_channels(data: &[f32], slices: usize, channels: usize) -> Vec<f32> {
    if slices == 0 {
        return Vec::new();
    }
    let per = data.len() / slices;
    let mut out = Vec::with_capacity(data.len() * channels);
    for slice in data.chunks_exact(per) {
        for _ in 0..channels {
            out.extend_from_slice(slice);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slice_is_repeated_per_channel() {
        let out = repeat_channels(&[1.0, 2.0, 3.0, 4.0], 2, 3);
        assert_eq!(out, vec![1., 2., 1., 2., 1., 2., 3., 4., 3., 4., 3., 4.]);
        assert!(repeat_channels(&[], 0, 3).is_empty());
    }
}
