//! numpy `.npy` (MRNet layout) and KneeMRI `.pck` (pickled numpy arrays) readers.

use cruciate_testkit::fixture;
use cruciate_volume::{Format, Plane, ReadOptions, RoiBox, Volume, read_path, read_study};

fn read(relative: &str) -> Option<Volume> {
    let path = fixture(relative)?;
    Some(read_path(&path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn every_kneemri_pickle_matches_its_expected_npy() {
    let cases = [
        ("vol0_uint16_p2", "uint16"),
        ("vol1_int16_p3", "int16"),
        ("vol2_uint16_p4", "uint16"),
        ("vol3_int32_p4", "int32"),
        ("vol4_float32_p2", "float32"),
    ];
    for (name, dtype) in cases {
        let Some(pck) = read(&format!("kneemri-format/{name}.pck")) else {
            return;
        };
        let Some(npy) = read(&format!("kneemri-format/{name}.expected.npy")) else {
            return;
        };
        assert_eq!(pck.meta.format, Format::KneeMriPickle);
        assert_eq!(npy.meta.format, Format::Npy);
        assert_eq!(pck.shape, npy.shape, "{name}");
        assert_eq!(pck.data, npy.data, "{name}: pixels differ");
        assert_eq!(pck.meta.stored_type.as_deref(), Some(dtype), "{name}");
        assert_eq!(pck.plane, Plane::Sagittal);
    }
}

#[test]
fn metadata_csv_beside_a_pickle_gives_its_roi() {
    let Some(v) = read("kneemri-format/vol1_int16_p3.pck") else {
        return;
    };
    // metadata.csv: roiX 12 (column), roiY 6 (row), roiZ 2 (slice), height 8, width 9, depth 2.
    assert_eq!(
        v.roi,
        Some(RoiBox {
            s0: 2,
            s1: 4,
            r0: 6,
            r1: 14,
            c0: 12,
            c1: 21
        })
    );
    assert_eq!(v.meta.study_id.as_deref(), Some("1001"));
    assert!(
        v.meta.notes.iter().any(|n| n.contains("aclDiagnosis 1")),
        "{:?}",
        v.meta.notes
    );
}

#[test]
fn metadata_csv_reads_every_row() {
    let Some(path) = fixture("kneemri-format/metadata.csv") else {
        return;
    };
    let rows = cruciate_volume::kneemri::read_metadata(&path).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[2].volume_filename, "vol2_uint16_p4.pck");
    assert_eq!(rows[2].acl_diagnosis, 2);
}

#[test]
fn mrnet_npy_is_uint8_slices_of_256() {
    let Some(v) = read("parity/mrnet-s1/volume_u8.npy") else {
        return;
    };
    assert_eq!(v.shape, [10, 256, 256]);
    assert_eq!(v.meta.stored_type.as_deref(), Some("uint8"));
    assert!(
        v.data
            .iter()
            .all(|&x| (0.0..=255.0).contains(&x) && x.fract() == 0.0)
    );
}

#[test]
fn plane_comes_from_mrnet_folder_names_and_u8_writing_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sagittal");
    std::fs::create_dir(&folder).unwrap();
    let data: Vec<f32> = (0..2 * 3 * 4).map(|i| (i * 10) as f32).collect();
    let meta = cruciate_volume::SourceMetadata::new(Format::Memory, "t");
    let v = Volume::new(data.clone(), [2, 3, 4], meta).unwrap();
    let path = folder.join("0000.npy");
    cruciate_volume::npy::write_u8(&path, &v).unwrap();
    let back = read_path(&path, &ReadOptions::default()).unwrap();
    assert_eq!(back.plane, Plane::Sagittal);
    let clamped: Vec<f32> = data.iter().map(|x| x.min(255.0)).collect();
    assert_eq!(back.data, clamped);
}

#[test]
fn an_mrnet_case_is_a_study_of_three_planes_and_a_folder_of_volumes_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (plane, slices) in [("sagittal", 5), ("coronal", 4), ("axial", 3)] {
        let folder = dir.path().join("valid").join(plane);
        std::fs::create_dir_all(&folder).unwrap();
        let meta = cruciate_volume::SourceMetadata::new(Format::Memory, plane);
        let v = Volume::new(vec![7.0; slices * 8 * 8], [slices, 8, 8], meta).unwrap();
        let path = folder.join("1130.npy");
        cruciate_volume::npy::write_u8(&path, &v).unwrap();
        paths.push(path);
    }
    let study = read_study(&paths, &ReadOptions::default()).unwrap();
    assert_eq!(
        study.planes(),
        vec![Plane::Sagittal, Plane::Coronal, Plane::Axial]
    );
    let slices: Vec<usize> = study.series.iter().map(|s| s.shape[0]).collect();
    assert_eq!(slices, vec![5, 4, 3]);
    let coronal = study.choose(Plane::Coronal, None, &mut |_| Ok(())).unwrap();
    assert_eq!((coronal.plane, coronal.shape[0]), (Plane::Coronal, 4));
    assert!(
        coronal
            .meta
            .notes
            .iter()
            .any(|n| n.contains("3 series found")),
        "{:?}",
        coronal.meta.notes
    );

    // The case's folder, with a label table beside the volumes, reads the same three.
    std::fs::write(dir.path().join("valid/labels.csv"), "1130,1\n").unwrap();
    let folder = read_study(&[dir.path().join("valid")], &ReadOptions::default()).unwrap();
    assert_eq!(folder.series.len(), 3);
    // One file named alone stays one series: the axial file is not swapped for its sibling.
    let alone = read_study(&paths[2..], &ReadOptions::default()).unwrap();
    assert_eq!(alone.planes(), vec![Plane::Axial]);
}
