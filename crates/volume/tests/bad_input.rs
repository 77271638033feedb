//! Bad input: each case gives one error line that names the file and the problem, never a panic.

use std::path::Path;

use cruciate_testkit::fixture;
use cruciate_volume::{ErrorKind, ReadError, ReadOptions, read_bytes, read_path};

fn refuse(path: &Path) -> ReadError {
    match read_path(path, &ReadOptions::default()) {
        Ok(v) => panic!(
            "{} was read ({:?}) but should be refused",
            path.display(),
            v.shape
        ),
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains('\n'), "error is not one line: {text}");
            assert!(
                text.starts_with(&path.display().to_string()),
                "error does not name the file: {text}"
            );
            e
        }
    }
}

fn refuse_fixture(relative: &str) -> Option<ReadError> {
    fixture(relative).map(|p| refuse(&p))
}

#[test]
fn truncated_dicom() {
    let Some(e) = refuse_fixture("dicom/pydicom/test_files/MR_truncated.dcm") else {
        return;
    };
    assert!(matches!(e.kind, ErrorKind::Truncated(_)), "{e}");
}

#[test]
fn truncated_copy_of_a_good_file() {
    let Some(src) = fixture("dicom/pydicom/test_files/MR_small.dcm") else {
        return;
    };
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [200, 700, bytes.len() - 100] {
        let path = dir.path().join(format!("cut{cut}.dcm"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        refuse(&path);
    }
}

#[test]
fn bad_vr() {
    let Some(e) = refuse_fixture("dicom/pydicom/test_files/badVR.dcm") else {
        return;
    };
    assert!(e.to_string().contains("NumberOfFrames"), "{e}");
}

#[test]
fn no_pixel_data() {
    let Some(e) = refuse_fixture("dicom/pydicom/test_files/rtplan.dcm") else {
        return;
    };
    assert!(
        e.to_string().contains("no pixel data (Modality RTPLAN"),
        "{e}"
    );
}

#[test]
fn dicomdir() {
    let Some(e) = refuse_fixture("dicom/pydicom/test_files/dicomdirtests/DICOMDIR") else {
        return;
    };
    assert!(e.to_string().contains("DICOMDIR"), "{e}");
}

#[test]
fn structured_report() {
    let Some(e) = refuse_fixture("dicom/pydicom/test_files/test-SR.dcm") else {
        return;
    };
    assert!(e.to_string().contains("Structured Report"), "{e}");
}

#[test]
fn png_renamed_dcm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.dcm");
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.write_header()
            .unwrap()
            .write_image_data(&[0, 1, 2, 3])
            .unwrap();
    }
    std::fs::write(&path, png).unwrap();
    let e = refuse(&path);
    assert!(
        e.to_string().contains("named .dcm but holds a PNG picture"),
        "{e}"
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.nii");
    std::fs::write(&path, b"").unwrap();
    assert!(refuse(&path).to_string().contains("empty file"));
}

#[test]
fn header_only_nifti() {
    for name in ["nifti1.hdr", "nifti2.hdr"] {
        let Some(e) = refuse_fixture(&format!("nifti/nibabel/{name}")) else {
            return;
        };
        assert!(e.to_string().contains("header-only NIfTI"), "{e}");
    }
    let Some(e) = refuse_fixture("nifti/nibabel/analyze.hdr") else {
        return;
    };
    assert!(e.to_string().contains("Analyze"), "{e}");
}

#[test]
fn truncated_nifti_and_gzip() {
    let Some(src) = fixture("nifti/nibabel/anatomical.nii") else {
        return;
    };
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.nii");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(refuse(&path).kind, ErrorKind::Truncated(_)));
    let Some(gz) = fixture("nifti/nibabel/example4d.nii.gz") else {
        return;
    };
    let bytes = std::fs::read(gz).unwrap();
    let path = dir.path().join("cut.nii.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    refuse(&path);
}

#[test]
fn truncated_npy_and_pickle() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "kneemri-format/vol0_uint16_p2.pck",
        "kneemri-format/vol3_int32_p4.pck",
        "parity/mrnet-s1/volume_u8.npy",
    ] {
        let Some(src) = fixture(name) else { return };
        let bytes = std::fs::read(src).unwrap();
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        for cut in [1, 40, bytes.len() / 2, bytes.len() - 1] {
            let path = dir.path().join(format!("cut{cut}.{ext}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            refuse(&path);
        }
    }
}

#[test]
fn folder_without_images() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"nothing here").unwrap();
    assert!(refuse(dir.path()).to_string().contains("no DICOM files"));
}

#[test]
fn missing_file() {
    assert!(matches!(
        refuse(Path::new("/no/such/exam.nii")).kind,
        ErrorKind::Io(_)
    ));
}

#[test]
fn folder_of_unreadable_dicom_files_gives_the_first_reason() {
    let Some(truncated) = fixture("dicom/pydicom/test_files/MR_truncated.dcm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&truncated, dir.path().join("a.dcm")).unwrap();
    std::fs::copy(&truncated, dir.path().join("b.dcm")).unwrap();
    let e = read_path(dir.path(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Truncated(_)), "{e}");
}

#[test]
fn deeply_nested_sequences_are_refused_before_they_overflow_the_stack() {
    // 200 000 levels in 4 MB: dicom-rs's recursive parser overflowed the stack and aborted the
    // whole process on this; the preflight walk refuses it in one line.
    let bytes = cruciate_testkit::deeply_nested_dicom(200_000);
    let e = read_bytes(Path::new("deep.dcm"), bytes, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sequences nested deeper than 32 levels"), "{e}");
    assert!(e.contains("exceeds a limit"), "{e}");
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    use std::io::Write;
    // 64 MiB of zeros gzip to about 64 KiB; with a 1 MiB allowance it is refused without
    // inflating the rest.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let options = ReadOptions {
        limits: cruciate_volume::Limits {
            gunzip_bytes: 1 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = read_bytes(Path::new("bomb.nii.gz"), bomb, &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gzip expands past 1048576 bytes"), "{e}");
    // The default allowance is 1 GiB.
    assert_eq!(cruciate_volume::Limits::default().gunzip_bytes, 1 << 30);
}
