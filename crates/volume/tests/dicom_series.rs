//! DICOM series assembly on series written by `write_series`: grouping, choice of series,
//! ordering along the slice normal, rescale, zip archives and their limits.

use std::io::Write;
use std::path::{Path, PathBuf};

use cruciate_volume::default_sagittal;
use cruciate_volume::dicom::{SeriesInfo, uid_from_seed, write_series};
use cruciate_volume::{
    ErrorKind, Format, Limits, Orientation, Plane, ReadOptions, SourceMetadata, Volume, read_path,
    read_paths, read_study,
};

fn info(seed: u64, description: &str) -> SeriesInfo {
    SeriesInfo {
        study_uid: uid_from_seed(1, 0),
        series_uid: uid_from_seed(seed, 1),
        patient_id: "PHANTOM-001".into(),
        patient_name: "Phantom^Knee".into(),
        description: description.into(),
        manufacturer: "Cruciate".into(),
        field_strength_t: 1.5,
    }
}

/// A volume whose every voxel value encodes its (slice, row, col), offset to go negative.
fn coded(shape: [usize; 3], orientation: Orientation) -> Volume {
    let data = (0..shape.iter().product::<usize>())
        .map(|i| i as f32 * 3.0 - 100.0)
        .collect();
    let mut v = Volume::new(data, shape, SourceMetadata::new(Format::Memory, "coded")).unwrap();
    v.spacing = [3.5, 0.5, 0.4];
    v.with_orientation(orientation)
}

fn sagittal() -> Orientation {
    Orientation {
        origin: [10.0, -20.0, 30.0],
        ..default_sagittal()
    }
}

fn axial() -> Orientation {
    Orientation::from_dicom([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0; 3]).unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "voxel {i}: {x} vs {y}");
    }
}

fn read(path: &Path) -> Volume {
    read_path(path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_written_series_reads_back_with_geometry_and_rescaled_values() {
    let dir = tempfile::tempdir().unwrap();
    let original = coded([5, 8, 6], sagittal());
    write_series(&original, dir.path(), &info(7, "SAG PD FS")).unwrap();
    let v = read(dir.path());
    assert_eq!(v.shape, [5, 8, 6]);
    assert_eq!(v.plane, Plane::Sagittal);
    assert_eq!(v.meta.format, Format::Dicom);
    assert_eq!(v.meta.series_description.as_deref(), Some("SAG PD FS"));
    assert_eq!(v.meta.field_strength_t, Some(1.5));
    assert_eq!(v.meta.scanner().as_deref(), Some("Cruciate 1.5 T"));
    for (a, b) in v.spacing.iter().zip([3.5, 0.5, 0.4]) {
        assert!((a - b).abs() < 1e-6, "spacing {:?}", v.spacing);
    }
    // 16-bit storage of a 717-wide range through RescaleSlope: error below one step.
    assert_close(&v.data, &original.data, 0.02);
    let o = v.orientation.unwrap();
    assert_eq!(o.origin, [10.0, -20.0, 30.0]);
}

#[test]
fn slices_are_ordered_by_position_not_by_file_name_or_instance_number() {
    let dir = tempfile::tempdir().unwrap();
    let original = coded([6, 4, 4], sagittal());
    let paths = write_series(&original, dir.path(), &info(8, "SAG PD FS")).unwrap();
    // Rename so that name order runs backwards through the stack, and give the slices instance
    // numbers in neither order: only ImagePositionPatient tells the order.
    let shuffled = [4, 1, 6, 2, 5, 3];
    for (i, p) in paths.iter().enumerate() {
        let mut object = dicom_object::open_file(p).unwrap();
        object.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::INSTANCE_NUMBER,
            dicom_core::VR::IS,
            dicom_core::PrimitiveValue::from(shuffled[i].to_string()),
        ));
        object
            .write_to_file(dir.path().join(format!("file_{}.dcm", 9 - i)))
            .unwrap();
        std::fs::remove_file(p).unwrap();
    }
    let v = read(dir.path());
    assert_close(&v.data, &original.data, 0.01);
}

fn write_three_series(dir: &Path) -> (String, String, String) {
    let pd = info(10, "SAG PD FS");
    let t1 = info(11, "SAG T1");
    let ax = info(12, "AX PD FS");
    write_series(&coded([4, 4, 4], sagittal()), &dir.join("a"), &pd).unwrap();
    write_series(&coded([6, 4, 4], sagittal()), &dir.join("b"), &t1).unwrap();
    write_series(&coded([9, 4, 4], axial()), &dir.join("c"), &ax).unwrap();
    (pd.series_uid, t1.series_uid, ax.series_uid)
}

#[test]
fn the_sagittal_pd_fat_suppressed_series_is_chosen_among_several() {
    let dir = tempfile::tempdir().unwrap();
    let (pd, _, ax) = write_three_series(dir.path());
    let v = read(dir.path());
    assert_eq!(v.meta.series_id.as_deref(), Some(pd.as_str()));
    assert_eq!(v.shape[0], 4);
    assert!(
        v.meta.notes.iter().any(|n| n.contains("3 series found")),
        "{:?}",
        v.meta.notes
    );
    // Why each other series was not read.
    let not_read = |why: &str| {
        v.meta
            .notes
            .iter()
            .any(|n| n.starts_with("not read: ") && n.ends_with(why))
    };
    assert!(not_read("(axial plane)"), "{:?}", v.meta.notes);
    assert!(
        not_read("(less like a PD fat-suppressed series)"),
        "{:?}",
        v.meta.notes
    );

    // A sagittal survey with more slices than the PD series is still passed over.
    let loc = info(13, "SAG SURVEY");
    write_series(&coded([12, 4, 4], sagittal()), &dir.path().join("d"), &loc).unwrap();
    let v = read(dir.path());
    assert_eq!(v.meta.series_id.as_deref(), Some(pd.as_str()));
    assert!(
        v.meta
            .notes
            .iter()
            .any(|n| n.contains(&loc.series_uid) && n.ends_with("(a survey series)")),
        "{:?}",
        v.meta.notes
    );

    let chosen = ReadOptions {
        series_uid: Some(ax.clone()),
        ..ReadOptions::default()
    };
    let v = read_path(dir.path(), &chosen).unwrap();
    assert_eq!((v.shape[0], v.plane), (9, Plane::Axial));

    let missing = ReadOptions {
        series_uid: Some("1.2.3".into()),
        ..ReadOptions::default()
    };
    let err = read_path(dir.path(), &missing).unwrap_err().to_string();
    assert!(
        err.contains("no series 1.2.3") && err.contains(&ax),
        "{err}"
    );
}

#[test]
fn a_study_lists_every_series_and_a_callers_test_takes_part_in_the_choice() {
    let dir = tempfile::tempdir().unwrap();
    let (pd, t1, ax) = write_three_series(dir.path());
    let study = || read_study(&[dir.path().to_path_buf()], &ReadOptions::default()).unwrap();
    let listed = study();
    assert_eq!(listed.series.len(), 3);
    assert_eq!(listed.planes(), vec![Plane::Sagittal, Plane::Axial]);
    let of = |uid: &str| listed.series.iter().find(|s| s.uid == uid).unwrap();
    assert_eq!(of(&pd).shape, [4, 4, 4]);
    assert_eq!(of(&ax).plane, Plane::Axial);
    assert_eq!(of(&t1).description.as_deref(), Some("SAG T1"));

    // A test that wants five slices passes over the PD series (four) for the T1 one, and says
    // why in the notes.
    let mut at_least_five = |v: &Volume| {
        (v.shape[0] >= 5)
            .then_some(())
            .ok_or_else(|| format!("{} slices; the model reads 5", v.shape[0]))
    };
    let v = study()
        .choose(Plane::Sagittal, None, &mut at_least_five)
        .unwrap();
    assert_eq!(v.meta.series_id.as_deref(), Some(t1.as_str()));
    let note = |part: &str| v.meta.notes.iter().any(|n| n.contains(part));
    assert!(
        note(&format!(
            "{pd} (SAG PD FS, sagittal, 4 slices) (4 slices; the model reads 5)"
        )),
        "{:?}",
        v.meta.notes
    );
    assert!(note("(axial plane)"), "{:?}", v.meta.notes);

    // Another plane is chosen when asked for; when the test refuses every series, the most
    // suitable one is read (its refusal is the caller's to report) and the others say why.
    let v = study().choose(Plane::Axial, None, &mut |_| Ok(())).unwrap();
    assert_eq!(v.meta.series_id.as_deref(), Some(ax.as_str()));
    let v = study()
        .choose(Plane::Sagittal, None, &mut |_| Err("never".into()))
        .unwrap();
    assert_eq!(v.meta.series_id.as_deref(), Some(pd.as_str()));
    let refusals = v
        .meta
        .notes
        .iter()
        .filter(|n| n.ends_with("(never)"))
        .count();
    assert_eq!(refusals, 2, "{:?}", v.meta.notes);
}

#[test]
fn a_list_of_files_is_read_as_one_series() {
    let dir = tempfile::tempdir().unwrap();
    let original = coded([3, 4, 4], sagittal());
    let mut paths = write_series(&original, dir.path(), &info(13, "SAG PD FS")).unwrap();
    paths.reverse();
    let v = read_paths(&paths, &ReadOptions::default()).unwrap();
    assert_close(&v.data, &original.data, 0.01);
}

#[test]
fn slices_of_different_sizes_in_one_series_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let same = info(14, "SAG PD FS");
    write_series(&coded([2, 4, 4], sagittal()), &dir.path().join("a"), &same).unwrap();
    let other = Orientation {
        origin: [50.0, 0.0, 0.0],
        ..sagittal()
    };
    let mut odd = coded([1, 5, 4], other);
    odd.spacing[0] = 3.5;
    write_series(&odd, &dir.path().join("b"), &same).unwrap();
    let err = read_path(dir.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Inconsistent(_)), "{err}");
    assert!(err.to_string().contains("different sizes"), "{err}");
}

fn zip_folder(folder: &Path, zip_path: &Path) -> usize {
    let file = std::fs::File::create(zip_path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in &entries {
        zip.start_file(p.file_name().unwrap().to_string_lossy(), options)
            .unwrap();
        zip.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    entries.len()
}

#[test]
fn a_zip_of_the_series_reads_like_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    let original = coded([4, 6, 6], sagittal());
    write_series(&original, &series, &info(15, "SAG PD FS")).unwrap();
    let zip_path = dir.path().join("exam.zip");
    zip_folder(&series, &zip_path);
    let v = read(&zip_path);
    assert_close(&v.data, &original.data, 0.01);
}

#[test]
fn zip_limits_on_entries_and_expanded_size_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    write_series(
        &coded([5, 16, 16], sagittal()),
        &series,
        &info(16, "SAG PD FS"),
    )
    .unwrap();
    let zip_path = dir.path().join("exam.zip");
    zip_folder(&series, &zip_path);
    let few_entries = ReadOptions {
        limits: Limits {
            zip_entries: 3,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let err = read_path(&zip_path, &few_entries).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Limit(_)) && err.to_string().contains("5 entries"),
        "{err}"
    );
    let few_bytes = ReadOptions {
        limits: Limits {
            zip_bytes: 2000,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let err = read_path(&zip_path, &few_bytes).unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Limit(_)) && err.to_string().contains("expands past"),
        "{err}"
    );
}

#[test]
fn an_empty_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("empty.zip");
    zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap())
        .finish()
        .unwrap();
    let err = read_path(&zip_path, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("empty zip archive"), "{err}");
    assert!(
        err.to_string().starts_with(&zip_path.display().to_string()),
        "{err}"
    );
}
