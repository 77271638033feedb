//! NIfTI-1 and NIfTI-2 fixtures from nibabel; reference figures computed once with nibabel 5.4
//! (`np.asarray(img.dataobj)`, first volume of 4-D files) and stored here.

use cruciate_testkit::fixture;
use cruciate_volume::{Format, Plane, ReadOptions, Volume, read_path};

fn read(name: &str) -> Option<Volume> {
    let path = fixture(&format!("nifti/nibabel/{name}"))?;
    Some(read_path(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// nibabel's `data[i, j, k]` is the volume's `[k][j][i]`.
fn at(v: &Volume, i: usize, j: usize, k: usize) -> f32 {
    v.data[(k * v.rows() + j) * v.cols() + i]
}

fn sum(v: &Volume) -> f64 {
    v.data.iter().map(|&x| x as f64).sum()
}

#[test]
fn anatomical_big_endian_int16_is_33_by_41_by_25() {
    let Some(v) = read("anatomical.nii") else {
        return;
    };
    assert_eq!(v.meta.format, Format::Nifti1);
    assert_eq!((v.cols(), v.rows(), v.slices()), (33, 41, 25));
    assert_eq!(at(&v, 1, 2, 3), 9798.0);
    assert_eq!(sum(&v), 284_166_082.0);
    assert_eq!(v.spacing, [2.0, 2.0, 2.0]);
    assert_eq!(v.plane, Plane::Axial);
    assert_eq!(v.meta.stored_type.as_deref(), Some("int16"));
    // nibabel: axis codes L, A, S; in LPS: +x, -y, +z.
    let o = v.orientation.unwrap();
    assert!(
        o.row_direction[0] > 0.99 && o.column_direction[1] < -0.99 && o.slice_direction[2] > 0.99,
        "{o:?}"
    );
}

#[test]
fn example4d_gives_its_first_volume_and_says_so() {
    let Some(v) = read("example4d.nii.gz") else {
        return;
    };
    assert_eq!((v.cols(), v.rows(), v.slices()), (128, 96, 24));
    assert_eq!(sum(&v), 50_994_397.0);
    assert!(
        v.meta.notes.iter().any(|n| n.contains("first volume")),
        "{:?}",
        v.meta.notes
    );
    assert!((v.spacing[0] - 2.2).abs() < 1e-5);
}

#[test]
fn nifti2_reads_like_nifti1() {
    let Some(v) = read("example_nifti2.nii.gz") else {
        return;
    };
    assert_eq!(v.meta.format, Format::Nifti2);
    assert_eq!((v.cols(), v.rows(), v.slices()), (32, 20, 12));
    assert_eq!(at(&v, 1, 2, 3), 367.0);
    assert_eq!(sum(&v), 3_461_748.0);
}

#[test]
fn float32_big_endian_with_reoriented_affine() {
    let Some(v) = read("reoriented_anat_moved.nii") else {
        return;
    };
    assert_eq!((v.cols(), v.rows(), v.slices()), (21, 26, 22));
    assert!((sum(&v) - 32_739_769.449).abs() < 5.0, "{}", sum(&v));
    assert_eq!(v.spacing, [4.0, 4.0, 4.0]);
    // nibabel: axis codes R, A, S: the first axis runs to the patient's right (-x in LPS).
    let o = v.orientation.unwrap();
    assert!(o.row_direction[0] < -0.99, "{:?}", o.row_direction);
}

#[test]
fn write_then_read_round_trips_shape_spacing_plane_and_values() {
    let data: Vec<f32> = (0..4 * 5 * 6).map(|i| i as f32 * 0.5 - 3.0).collect();
    let meta = cruciate_volume::SourceMetadata::new(Format::Memory, "t");
    let mut v = Volume::new(data, [4, 5, 6], meta).unwrap();
    v.spacing = [3.0, 0.6, 0.5];
    v = v.with_orientation(cruciate_volume::default_sagittal());
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.nii", "x.nii.gz"] {
        let path = dir.path().join(name);
        cruciate_volume::nifti::write(&path, &v).unwrap();
        let back = read_path(&path, &ReadOptions::default()).unwrap();
        assert_eq!(back.shape, v.shape);
        assert_eq!(back.data, v.data);
        assert_eq!(back.plane, Plane::Sagittal);
        for (a, b) in back.spacing.iter().zip(v.spacing) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
