//! The SR and Secondary Capture objects against dicom3tools' `dciodvfy` (no errors), dcmtk's
//! `dsrdump` (the grade is printed), and read back by the project's own readers.

use std::process::Command;

use cruciate_dicom_results::sc::RgbPicture;
use cruciate_dicom_results::{
    Algorithm, Finding, OutsideDomain, ResultContext, StudyIdentity, part10_bytes, read_finding,
    secondary_capture, structured_report,
};
use cruciate_testkit::{dciodvfy_errors, system_tool};
use cruciate_volume::{ReadOptions, SliceSource};

fn context() -> ResultContext {
    ResultContext {
        exam_id: "0123abcd".into(),
        study: StudyIdentity {
            patient_name: "Doe^Jane".into(),
            patient_id: "P-42".into(),
            patient_birth_date: "19800101".into(),
            patient_sex: "F".into(),
            study_uid: "1.2.826.0.1.3680043.9.1".into(),
            study_id: "7".into(),
            accession_number: "A1".into(),
            study_date: "20261127".into(),
            study_time: "101500".into(),
            referring_physician: String::new(),
        },
        source_series_uid: Some("1.2.826.0.1.3680043.9.1.2".into()),
        frame_of_reference_uid: None,
        slice_sources: (0..12)
            .map(|i| SliceSource {
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.4".into(),
                sop_instance_uid: format!("1.2.826.0.1.3680043.9.1.2.{}", i + 1),
                frame: 1,
            })
            .collect(),
        algorithm: Algorithm {
            name: "demo-mrnet".into(),
            version: "cruciate 0.1.0 (sha256 1234abcd)".into(),
            synthetic: true,
        },
        notices: vec![
            "Not for diagnostic use.".into(),
            "Demo model trained on synthetic data: not for clinical use.".into(),
        ],
        content_date_time: ("20261127".into(), "120000".into()),
    }
}

/// The SR of `finding` written to `dir/sr.dcm`, held to dciodvfy (no error); its path and bytes.
fn valid_report(
    ctx: &ResultContext,
    finding: &Finding,
    dir: &std::path::Path,
) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("sr.dcm");
    let bytes = part10_bytes(structured_report(ctx, finding, 0).unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let errors = dciodvfy_errors(&path).unwrap_or_default();
    assert!(errors.is_empty(), "{errors:#?}");
    (path, bytes)
}

#[test]
fn sr_and_secondary_captures_validate_print_their_grade_and_read_back() {
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let finding = Finding {
        about: cruciate_data::Finding::Acl,
        grade: Some(2),
        injured: true,
        injured_probability: 0.8125,
        key_slices: vec![5, 6],
        outside_domain: None,
        grade_set: Some("partial or complete, 90 %".into()),
    };
    let (w, h) = (40usize, 30usize);
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    let mut sc_paths = Vec::new();
    for (n, &slice) in finding.key_slices.iter().enumerate() {
        let picture = RgbPicture {
            width: w,
            height: h,
            pixels: &pixels,
        };
        let obj = secondary_capture(&ctx, n, slice, &picture).unwrap();
        let path = dir.path().join(format!("sc{n}.dcm"));
        std::fs::write(&path, part10_bytes(obj).unwrap()).unwrap();
        sc_paths.push(path);
    }
    let sr = structured_report(&ctx, &finding, sc_paths.len()).unwrap();
    let sr_bytes = part10_bytes(sr).unwrap();
    let sr_path = dir.path().join("sr.dcm");
    std::fs::write(&sr_path, &sr_bytes).unwrap();

    for p in sc_paths.iter().chain([&sr_path]) {
        let errors = dciodvfy_errors(p).unwrap_or_default();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
    if let Some(dsrdump) = system_tool("dsrdump") {
        let out = Command::new(dsrdump).arg(&sr_path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("ACL partial rupture (grade 2)"), "{text}");
        assert!(
            text.contains("(895007,SCT,\"Anterior cruciate ligament of knee joint\")"),
            "the finding site: {text}"
        );
        assert!(text.contains("0.8125"), "{text}");
        assert!(text.contains("partial or complete, 90 %"), "{text}");
        assert!(text.contains("Not for diagnostic use."), "{text}");
    }
    let back = read_finding(&sr_bytes).unwrap();
    assert_eq!(back.code, "ACL-G2");
    assert!((back.injured_probability.unwrap() - 0.8125).abs() < 1e-9);
    assert_eq!(back.grade_set.as_deref(), Some("partial or complete, 90 %"));
    // The project's reader takes the Secondary Capture as a one-slice grey image.
    let v = cruciate_volume::read_path(&sc_paths[0], &ReadOptions::default()).unwrap();
    assert_eq!(v.shape, [1, h, w]);
    // Same exam, same UIDs: a result sent twice replaces itself.
    let again = part10_bytes(structured_report(&ctx, &finding, 2).unwrap()).unwrap();
    assert_eq!(again, sr_bytes);
}

#[test]
fn a_binary_call_without_dicom_sources_still_makes_a_valid_report() {
    let mut ctx = context();
    ctx.slice_sources.clear();
    ctx.source_series_uid = None;
    let finding = Finding {
        about: cruciate_data::Finding::Acl,
        grade: None,
        injured: false,
        injured_probability: 0.1,
        key_slices: vec![3],
        outside_domain: None,
        grade_set: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = valid_report(&ctx, &finding, dir.path());
    assert_eq!(read_finding(&bytes).unwrap().code, "ACL-HEALTHY");
    let bad = Finding {
        injured_probability: 1.5,
        ..finding
    };
    assert!(structured_report(&ctx, &bad, 0).is_err());
    let picture = RgbPicture {
        width: 4,
        height: 4,
        pixels: &[0; 10],
    };
    assert!(secondary_capture(&ctx, 0, 0, &picture).is_err());
}

#[test]
fn an_exam_outside_the_models_domain_is_reported_not_analysed_with_its_reasons() {
    let ctx = context();
    let reasons = "coronal plane (ImageOrientationPatient); the model reads sagittal";
    let finding = Finding {
        about: cruciate_data::Finding::Acl,
        grade: Some(3),
        injured: true,
        injured_probability: 0.97,
        key_slices: vec![5],
        outside_domain: Some(OutsideDomain {
            reasons: reasons.into(),
            call_shown: false,
        }),
        grade_set: Some("partial or complete, 90 %".into()),
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = valid_report(&ctx, &finding, dir.path());
    let back = read_finding(&bytes).unwrap();
    assert_eq!(back.code, "ACL-NOT-ANALYSED");
    assert_eq!(back.injured_probability, None, "no call in the report");
    assert_eq!(back.grade_set, None, "nor a grade set");
    assert!(
        back.comment
            .starts_with(&format!("Not analysed: {reasons}")),
        "{}",
        back.comment
    );
    assert!(
        back.comment.contains("Not for diagnostic use."),
        "{}",
        back.comment
    );
    // Shown by an administrator: the call, marked outside the model's domain.
    let shown = Finding {
        outside_domain: Some(OutsideDomain {
            reasons: reasons.into(),
            call_shown: true,
        }),
        ..finding
    };
    let back =
        read_finding(&part10_bytes(structured_report(&ctx, &shown, 0).unwrap()).unwrap()).unwrap();
    assert_eq!(back.code, "ACL-G3");
    assert_eq!(back.injured_probability, Some(0.97));
    assert!(
        back.comment.starts_with("Outside the model's domain"),
        "{}",
        back.comment
    );
}

#[test]
fn a_meniscus_models_report_codes_a_meniscal_tear_at_the_meniscus() {
    let ctx = context();
    let finding = Finding {
        about: cruciate_data::Finding::Meniscus,
        grade: None,
        injured: true,
        injured_probability: 0.75,
        key_slices: vec![4],
        outside_domain: None,
        grade_set: Some("meniscal tear, 90 %".into()),
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = valid_report(&ctx, &finding, dir.path());
    if let Some(dsrdump) = system_tool("dsrdump") {
        let out = Command::new(dsrdump).arg(&path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for said in [
            "(239720000,SCT,\"Tear of meniscus of knee\")",
            "Probability of a meniscal tear",
            "(74135004,SCT,\"Meniscus\")",
            "Cruciate meniscus report",
        ] {
            assert!(text.contains(said), "{said}: {text}");
        }
        assert!(!text.contains("ACL"), "{text}");
    }
    let back = read_finding(&bytes).unwrap();
    assert_eq!(
        back.code, "239720000",
        "SNOMED CT: Tear of meniscus of knee"
    );
    assert_eq!(back.injured_probability, Some(0.75));
    assert_eq!(back.grade_set.as_deref(), Some("meniscal tear, 90 %"));
    let refused = Finding {
        about: cruciate_data::Finding::Abnormal,
        outside_domain: Some(OutsideDomain {
            reasons: "7 slices; the model reads 16".into(),
            call_shown: false,
        }),
        ..finding.clone()
    };
    let back = read_finding(&part10_bytes(structured_report(&ctx, &refused, 0).unwrap()).unwrap())
        .unwrap();
    assert_eq!(back.code, "KNEE-UNANALYSED");
    assert_eq!(back.injured_probability, None);
    // Only the ACL is graded.
    let graded = Finding {
        grade: Some(2),
        ..finding
    };
    assert!(structured_report(&ctx, &graded, 0).is_err());
}

/// A reading's report: a measurement group per finding, each inferred from the series it was
/// seen on, every series listed as evidence; valid, and every finding reads back in order.
#[test]
fn a_report_of_several_findings_seen_on_several_series_is_valid_and_reads_back() {
    if system_tool("dciodvfy").is_none() {
        return;
    }
    let ctx = context();
    let coronal = ctx.with_series(
        Some("1.2.826.0.1.3680043.10.1234.77".into()),
        None,
        (0..4)
            .map(|k| SliceSource {
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.4".into(),
                sop_instance_uid: format!("1.2.826.0.1.3680043.10.1234.77.{k}"),
                frame: 1,
            })
            .collect(),
    );
    let finding = |about, p: f64| Finding {
        about,
        grade: None,
        injured: p >= 0.5,
        injured_probability: p,
        key_slices: vec![1, 2],
        outside_domain: None,
        grade_set: None,
    };
    let acl = finding(cruciate_data::Finding::Acl, 0.8);
    let meniscus = finding(cruciate_data::Finding::Meniscus, 0.3);
    let sr = cruciate_dicom_results::structured_report_of(
        &ctx,
        &[
            cruciate_dicom_results::Evidence {
                finding: &acl,
                seen: &ctx,
                pictures: vec![0, 1],
                segmentations: Vec::new(),
            },
            cruciate_dicom_results::Evidence {
                finding: &meniscus,
                seen: &coronal,
                pictures: vec![2],
                segmentations: Vec::new(),
            },
        ],
    )
    .unwrap();
    let bytes = part10_bytes(sr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sr.dcm");
    std::fs::write(&path, &bytes).unwrap();
    let errors = dciodvfy_errors(&path).unwrap();
    assert!(errors.is_empty(), "{errors:#?}");
    let back = cruciate_dicom_results::read_findings(&bytes).unwrap();
    let codes: Vec<&str> = back.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["444470001", "MEN-NO-TEAR"]);
    assert_eq!(back[1].injured_probability, Some(0.3));
    // Both source series and the pictures' series are evidence.
    let obj = dicom_object::from_reader(&bytes[128..]).unwrap();
    let evidence = obj
        .element(dicom_dictionary_std::tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0]
        .element(dicom_dictionary_std::tags::REFERENCED_SERIES_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()
        .len();
    assert_eq!(evidence, 3);
    // No finding, no report.
    assert!(cruciate_dicom_results::structured_report_of(&ctx, &[]).is_err());
}

/// The region as a binary Segmentation and a heat map as a fractional one, over the source
/// series, valid to dciodvfy and read back by highdicom; the SR references their segments.
#[test]
fn segmentations_of_the_region_and_the_heat_map_validate_and_read_back() {
    use cruciate_dicom_results::seg::{
        SegmentKind, Segmentation, SeriesGeometry, box_frames, segmentation,
    };
    if system_tool("dciodvfy").is_none() {
        return;
    }
    let mut ctx = context();
    ctx.frame_of_reference_uid = Some("1.2.826.0.1.3680043.9.1.3".into());
    let geometry = SeriesGeometry {
        rows: 16,
        cols: 20,
        pixel_spacing: [0.5, 0.5],
        slice_spacing: 3.0,
        orientation: [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
        positions: (0..12)
            .map(|k| [-18.0 + 3.0 * k as f64, -4.0, 4.0])
            .collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    let region = Segmentation {
        kind: SegmentKind::AclRegion,
        finding: cruciate_data::Finding::Acl,
        method: "the cascade's ACL localiser",
        frames: box_frames(&geometry, [4, 7, 2, 10, 5, 15]),
    };
    let heat = Segmentation {
        kind: SegmentKind::HeatMap,
        finding: cruciate_data::Finding::Acl,
        method: "Grad-CAM",
        frames: (3..9)
            .map(|s| (s, (0..16 * 20).map(|p| ((p * 7 + s) % 256) as u8).collect()))
            .collect(),
    };
    for (seg, kind, sum) in [
        (&region, "BINARY", 3 * 8 * 10),
        (
            &heat,
            "FRACTIONAL",
            heat.frames
                .iter()
                .flat_map(|f| f.1.iter().map(|&v| usize::from(v)))
                .sum(),
        ),
    ] {
        let obj = segmentation(&ctx, &geometry, seg).unwrap();
        let path = dir.path().join(format!("{kind}.dcm"));
        std::fs::write(&path, part10_bytes(obj).unwrap()).unwrap();
        let errors = dciodvfy_errors(&path).unwrap();
        assert!(errors.is_empty(), "{kind}: {errors:#?}");
        let Some(read) = cruciate_testkit::segmentation_read_back(&path) else {
            continue;
        };
        let read = read.unwrap_or_else(|e| panic!("highdicom refused the {kind} SEG: {e}"));
        assert!(read.contains(&format!("\"type\": \"{kind}\"")), "{read}");
        assert!(
            read.contains(&format!("\"sum\": {sum},")),
            "{kind}: {sum} in {read}"
        );
        assert!(
            read.contains(&format!("\"frames\": {},", seg.frames.len())),
            "{read}"
        );
        // Each frame's source is the slice's own instance.
        let first = &ctx.slice_sources[seg.frames[0].0].sop_instance_uid;
        assert!(read.contains(first.as_str()), "{first} in {read}");
    }
    // Refused: no frame of reference, no frame, a frame of the wrong size.
    let mut bare = ctx.clone();
    bare.frame_of_reference_uid = None;
    assert!(segmentation(&bare, &geometry, &region).is_err());
    let empty = Segmentation {
        frames: Vec::new(),
        ..region
    };
    assert!(segmentation(&ctx, &geometry, &empty).is_err());
    let wrong = Segmentation {
        kind: SegmentKind::HeatMap,
        finding: cruciate_data::Finding::Acl,
        method: "Grad-CAM",
        frames: vec![(3, vec![0; 5])],
    };
    assert!(segmentation(&ctx, &geometry, &wrong).is_err());
    // The SR names both segments and their source series, and stays valid.
    let finding = Finding {
        about: cruciate_data::Finding::Acl,
        grade: Some(2),
        injured: true,
        injured_probability: 0.7,
        key_slices: vec![5],
        outside_domain: None,
        grade_set: None,
    };
    let sr = cruciate_dicom_results::structured_report_of(
        &ctx,
        &[cruciate_dicom_results::Evidence {
            finding: &finding,
            seen: &ctx,
            pictures: Vec::new(),
            segmentations: vec![SegmentKind::AclRegion, SegmentKind::HeatMap],
        }],
    )
    .unwrap();
    let path = dir.path().join("sr.dcm");
    std::fs::write(&path, part10_bytes(sr).unwrap()).unwrap();
    let errors = dciodvfy_errors(&path).unwrap();
    assert!(errors.is_empty(), "SR: {errors:#?}");
    let dump = Command::new("dsrdump").arg(&path).output();
    if let Ok(dump) = dump {
        let text = String::from_utf8_lossy(&dump.stdout);
        assert!(text.matches("Referenced Segment").count() == 2, "{text}");
    }
}
