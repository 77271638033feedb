//! `cruciate data import`: KneeMRI's metadata (the KneeMRI-format fixtures), an MRNet-layout
//! folder written from phantoms and a folder of DICOM studies become manifests whose counts,
//! grades, boxes and splits are checked, and `train` runs on each; inconsistent datasets are
//! refused with one line per problem and nothing written.

mod common;

use std::path::{Path, PathBuf};

use common::{QUICK_NETWORK, cruciate, succeeded};
use cruciate_data::{Manifest, Split};
use cruciate_volume::RoiBox;

/// What a failed command said on stderr, after checking that it failed.
fn refused(args: &[&str]) -> String {
    let out = cruciate(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The files of one case of an MRNet layout's `valid/` part, by plane.
fn valid_case(layout: &Path) -> impl Fn(&str) -> PathBuf {
    let case = std::fs::read_dir(layout.join("valid/sagittal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let valid = layout.join("valid");
    move |plane| valid.join(plane).join(&case)
}

/// One epoch of a small network on the manifest, into `dir/run`.
fn trains_on(manifest: &Path, dir: &Path) {
    let run = dir.join("run");
    let said = succeeded(&cruciate(
        &[
            &[
                "train",
                "--manifest",
                manifest.to_str().unwrap(),
                "--out",
                run.to_str().unwrap(),
            ][..],
            &QUICK_NETWORK,
        ]
        .concat(),
    ));
    assert!(said.contains("run folder"), "{said}");
}

/// The arguments as the command runner takes them.
fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every patient's exams in one split, and every split present (calib only where asked for).
fn splits_are_sound(m: &Manifest, calib: bool) {
    for s in Split::ALL
        .into_iter()
        .filter(|&s| calib || s != Split::Calib)
    {
        assert!(m.rows.iter().any(|r| r.split == s), "no {s} exams");
    }
    assert_eq!(calib, m.rows.iter().any(|r| r.split == Split::Calib));
    for a in &m.rows {
        for b in m.rows.iter().filter(|b| b.patient_id() == a.patient_id()) {
            assert_eq!(a.split, b.split, "patient {}", a.patient_id());
        }
    }
}

#[test]
fn kneemri_metadata_becomes_a_manifest_with_grades_boxes_and_sides() {
    let Some(metadata) = cruciate_testkit::fixture("kneemri-format/metadata.csv") else {
        return;
    };
    let source = metadata.parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kneemri/manifest.csv");
    let said = succeeded(&cruciate(&[
        "data",
        "import",
        "kneemri",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(said.contains("5 exams"), "{said}");
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.rows.len(), 5);
    // aclDiagnosis 0, 1, 2, 0, 1 -> grades 0, 2, 3, 0, 2; kneeLR 0, 1, 0, 1, 0 -> L, R, L, R, L.
    let by_id = |id: &str| m.rows.iter().find(|r| r.exam_id == id).unwrap();
    for (id, grade, side) in [
        ("1000", 0, "L"),
        ("1001", 2, "R"),
        ("1002", 3, "L"),
        ("1003", 0, "R"),
        ("1004", 2, "L"),
    ] {
        assert_eq!(by_id(id).label, grade, "{id}");
        assert_eq!(by_id(id).side.as_deref(), Some(side), "{id}");
        assert_eq!(by_id(id).patient_id(), id);
    }
    // roiX 12, roiY 6, roiZ 2, roiHeight 8, roiWidth 9, roiDepth 2.
    assert_eq!(
        by_id("1001").roi,
        Some(RoiBox {
            s0: 2,
            s1: 4,
            r0: 6,
            r1: 14,
            c0: 12,
            c1: 21
        })
    );
    assert!(by_id("1000").path.ends_with("vol0_uint16_p2.pck"));
    splits_are_sound(&m, false);
    let info = std::fs::read_to_string(dir.path().join("kneemri/dataset.json")).unwrap();
    assert!(info.contains("\"synthetic\": false"), "{info}");
    trains_on(&out, dir.path());

    // An external validation: the whole dataset in the test split, scored by a run trained
    // elsewhere (here the run just trained, for the command's sake).
    let external = dir.path().join("external/manifest.csv");
    let said = succeeded(&cruciate(&[
        "data",
        "import",
        "kneemri",
        source.to_str().unwrap(),
        "--external",
        "--out",
        external.to_str().unwrap(),
    ]));
    assert!(said.contains("5 exams"), "{said}");
    let m = Manifest::read(&external).unwrap();
    assert!(m.rows.iter().all(|r| r.split == Split::Test));
    let report = dir.path().join("external-report");
    succeeded(&cruciate(&[
        "evaluate",
        "--run",
        dir.path().join("run").to_str().unwrap(),
        "--manifest",
        external.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        report.to_str().unwrap(),
    ]));
    let scored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(scored["exams"], 5, "every exam scored: {scored}");
    let err = refused(&[
        "data",
        "import",
        "kneemri",
        source.to_str().unwrap(),
        "--external",
        "--test",
        "0.2",
        "--out",
        external.to_str().unwrap(),
    ]);
    assert!(err.contains("--test"), "{err}");

    // A copy that contradicts itself: a listed file missing, a file not listed, an id twice.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(bad.join("vol01")).unwrap();
    for name in ["vol0_uint16_p2.pck", "vol1_int16_p3.pck"] {
        std::fs::copy(source.join(name), bad.join("vol01").join(name)).unwrap();
    }
    std::fs::copy(source.join("vol2_uint16_p4.pck"), bad.join("extra.pck")).unwrap();
    std::fs::write(
        bad.join("metadata.csv"),
        "examId,serieNo,aclDiagnosis,kneeLR,roiX,roiY,roiZ,roiHeight,roiWidth,roiDepth,volumeFilename\n\
         1000,1,0,0,4,7,0,8,9,2,vol0_uint16_p2.pck\n\
         1000,2,1,1,12,6,2,8,9,2,vol1_int16_p3.pck\n\
         1002,3,2,0,0,0,0,8,9,2,gone.pck\n",
    )
    .unwrap();
    let bad_out = dir.path().join("bad-manifest/manifest.csv");
    let err = refused(&[
        "data",
        "import",
        "kneemri",
        bad.to_str().unwrap(),
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert!(err.contains("examId 1000 is listed twice"), "{err}");
    assert!(err.contains("gone.pck is missing"), "{err}");
    assert!(
        err.contains("extra.pck: not listed in metadata.csv"),
        "{err}"
    );
    assert!(err.contains("3 problems"), "{err}");
    assert!(!bad_out.exists(), "nothing written");
}

/// Synthetic exams of three planes laid out as MRNet: `train/` gets the first `n_train`,
/// `valid/` the rest, each plane in its folder; the three label files per part. Returns each
/// case's (ACL grade as imported, meniscus, abnormal).
fn mrnet_layout(dir: &Path, exams: usize, n_train: usize) -> (PathBuf, Vec<[u8; 3]>) {
    let synth = dir.join("synth");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        synth.to_str().unwrap(),
        "--exams",
        &exams.to_string(),
        "--size",
        "64",
        "--slices",
        "12..14",
        "--seed",
        "5",
        "--planes",
        "sagittal,coronal,axial",
    ]));
    let phantoms = Manifest::read(&synth.join("manifest.csv")).unwrap();
    let root = dir.join("MRNet-v1.0");
    let mut labels = Vec::new();
    let mut files: std::collections::BTreeMap<String, String> = Default::default();
    for (i, row) in phantoms.rows.iter().enumerate() {
        let part = ["train", "valid"][usize::from(i >= n_train)];
        for plane in ["sagittal", "coronal", "axial"] {
            let folder = root.join(part).join(plane);
            std::fs::create_dir_all(&folder).unwrap();
            let from = phantoms
                .resolve(row)
                .to_str()
                .unwrap()
                .replace("sagittal", plane);
            std::fs::copy(from, folder.join(format!("{i:04}.npy"))).unwrap();
        }
        let case = [
            u8::from(row.label > 0),
            row.meniscus.unwrap(),
            row.abnormal.unwrap(),
        ];
        for (finding, label) in ["acl", "meniscus", "abnormal"].iter().zip(case) {
            *files.entry(format!("{part}-{finding}.csv")).or_default() +=
                &format!("{i:04},{label}\n");
        }
        labels.push([3 * case[0], case[1], case[2]]);
    }
    for (name, text) in files {
        std::fs::write(root.join(name), text).unwrap();
    }
    (root, labels)
}

#[test]
fn an_mrnet_folder_becomes_a_manifest_with_its_test_set_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (root, labels) = mrnet_layout(dir.path(), 24, 18);
    std::fs::write(root.join("train/sagittal/notes.txt"), "not a case").unwrap();
    let out = dir.path().join("mrnet.csv");
    let said = succeeded(&cruciate(&[
        "data",
        "import",
        "mrnet",
        root.to_str().unwrap(),
        "--plane",
        "sagittal",
        "--calib",
        "0.2",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(said.contains("notes.txt: not an MRNet case file"), "{said}");
    assert!(said.contains("spacing unknown"), "{said}");
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.rows.len(), 24);
    for row in &m.rows {
        let case: usize = row.exam_id.parse().unwrap();
        let [acl, meniscus, abnormal] = labels[case];
        assert_eq!(row.label, acl, "case {case}: 0/1 become grades 0/3");
        assert_eq!(
            (row.meniscus, row.abnormal),
            (Some(meniscus), Some(abnormal))
        );
        assert_eq!(row.patient_id(), row.exam_id);
        assert!(row.path.ends_with(&format!("sagittal/{case:04}.npy")));
        assert_eq!(row.spacing, None, "MRNet's files carry no spacing");
        // MRNet's valid part is its test set; valid and calib splits are carved from train.
        assert_eq!(row.split == Split::Test, case >= 18, "case {case}");
    }
    assert!(
        labels.iter().any(|l| l[1] == 1) && labels.iter().any(|l| l[1] == 0),
        "both meniscus labels occur"
    );
    splits_are_sound(&m, true);
    trains_on(&out, dir.path());
    let err = refused(&[
        "data",
        "import",
        "mrnet",
        root.to_str().unwrap(),
        "--valid",
        "0.4",
        "--test",
        "0.3",
        "--calib",
        "0.3",
        "--out",
        dir.path().join("none.csv").to_str().unwrap(),
    ]);
    assert!(err.contains("leave no exams to train on"), "{err}");
    // A model of another finding on another plane reads that plane's files.
    let coronal = m
        .for_finding(
            cruciate_data::Finding::Meniscus,
            cruciate_volume::Plane::Coronal,
        )
        .unwrap();
    let read = cruciate_data::read_exam(&coronal, &coronal.rows[0]).unwrap();
    assert_eq!(read.plane, cruciate_volume::Plane::Coronal);
    assert_eq!(coronal.rows[0].label, 3 * labels[0][1]);

    // A labelled case whose file is gone, and a file nobody labelled.
    std::fs::remove_file(root.join("train/sagittal/0003.npy")).unwrap();
    std::fs::copy(
        root.join("train/sagittal/0004.npy"),
        root.join("train/sagittal/0099.npy"),
    )
    .unwrap();
    let bad_out = dir.path().join("bad.csv");
    let import_refused = || {
        refused(&[
            "data",
            "import",
            "mrnet",
            root.to_str().unwrap(),
            "--out",
            bad_out.to_str().unwrap(),
        ])
    };
    let err = import_refused();
    assert!(
        err.contains("case 0003 is labelled but train/sagittal/0003.npy is missing"),
        "{err}"
    );
    assert!(err.contains("0099.npy: no label"), "{err}");
    assert!(!bad_out.exists());
    // Every plane must hold every case; a missing label file is named.
    std::fs::remove_file(root.join("train/sagittal/0099.npy")).unwrap();
    std::fs::copy(
        root.join("train/coronal/0003.npy"),
        root.join("train/sagittal/0003.npy"),
    )
    .unwrap();
    std::fs::remove_file(root.join("train/axial/0005.npy")).unwrap();
    let err = import_refused();
    assert!(
        err.contains("case 0005 is labelled but train/axial/0005.npy is missing"),
        "{err}"
    );
    std::fs::remove_file(root.join("valid-meniscus.csv")).unwrap();
    let err = import_refused();
    assert!(err.contains("valid-meniscus.csv"), "{err}");
}

/// `reproduce mrnet` on phantoms in MRNet's layout (`synth --mrnet-layout`): nine plane
/// networks, a combiner per finding, the table beside the paper's; a second call trains
/// nothing again. `train` and `combine` refuse what cannot be asked.
#[test]
fn mrnet_is_reproduced_in_one_command_on_a_phantom_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, said) = common::phantom_mrnet_layout(dir.path(), 60);
    assert!(said.contains("laid out as MRNet's dataset"), "{said}");
    for file in ["train-acl.csv", "valid-meniscus.csv", "dataset.json"] {
        assert!(layout.join(file).is_file(), "{file}");
    }
    for part in ["train", "valid"] {
        let cases = |plane: &str| {
            std::fs::read_dir(layout.join(part).join(plane))
                .unwrap()
                .count()
        };
        assert!(cases("sagittal") > 0);
        assert_eq!(cases("sagittal"), cases("axial"));
        assert_eq!(cases("sagittal"), cases("coronal"));
    }
    // A mistyped setting of the last finding is refused before any network trains.
    let early = dir.path().join("mistyped");
    let refused_setting = |setting: &str| {
        refused(&[
            "reproduce",
            "mrnet",
            layout.to_str().unwrap(),
            "--out",
            early.to_str().unwrap(),
            "--set-for",
            setting,
        ])
    };
    let err = refused_setting("meniscus:model.spatial_pooling=\"median\"");
    assert!(err.contains("meniscus networks"), "{err}");
    assert!(!early.join("runs").exists(), "nothing trained: {err}");
    let err = refused_setting("knee:data.size=32");
    assert!(err.contains("unknown finding"), "{err}");
    let out = dir.path().join("reproduced");
    let reproduce = || common::reproduce_small(&layout, &out);
    let said = succeeded(&reproduce());
    assert!(said.contains("no --weights"), "{said}");
    for row in [
        "| abnormality |",
        "| ACL tear |",
        "| meniscal tear |",
        "0.937 (0.895-0.980)",
        "0.965 (0.938-0.993)",
        "0.847 (0.780-0.914)",
        "Macro AUC over the findings",
        "synthetic data",
        // The whole knee as served, and with its findings informing each other.
        "| reading | exams | abnormality AUC (95 % CI) | ACL tear AUC (95 % CI) | meniscal tear AUC (95 % CI) | macro AUC |",
        "| knee (synthetic data) |",
        "| knee-informed (synthetic data) |",
    ] {
        assert!(said.contains(row), "{row}: {said}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("reproduce.md")).unwrap(),
        said[said.find("\n| finding").unwrap()..said.find("written to").unwrap()]
    );
    // Each plane run answers its finding on its plane; each combined run holds a regression
    // for every set of planes, and is labelled synthetic.
    for finding in ["abnormal", "acl", "meniscus"] {
        for plane in ["sagittal", "coronal", "axial"] {
            let run = out.join("runs").join(format!("{finding}-{plane}"));
            let info: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap())
                    .unwrap();
            assert_eq!(info["finding"], finding);
            assert_eq!(info["training"]["synthetic"], true);
            let spatial = if finding == "meniscus" { "max" } else { "mean" };
            assert_eq!(
                info["settings"]["network"]["spatial"], spatial,
                "--set-for meniscus only"
            );
            let gate_plane = info["gate"]["plane"].as_str().unwrap_or("sagittal");
            assert_eq!(gate_plane, plane);
        }
        let combined: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(finding).join("combined.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(combined["finding"], finding);
        assert_eq!(combined["synthetic"], true);
        assert_eq!(combined["combiners"].as_array().unwrap().len(), 7);
        assert_eq!(
            combined["runs"][0]["run"],
            format!("../runs/{finding}-sagittal")
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(finding).join("combine.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["single"].as_array().unwrap().len(), 3);
        assert_eq!(report["combined"].as_array().unwrap().len(), 4);
    }
    // A study's planes each read by their network and combined; a missing plane is left out
    // and said.
    let file = valid_case(&layout);
    let predict = |files: &[PathBuf]| -> serde_json::Value {
        let mut args = vec![
            "predict".to_string(),
            "--run".into(),
            out.join("acl").to_str().unwrap().into(),
            "--json".into(),
        ];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
        serde_json::from_str(&succeeded(&cruciate(&as_str(&args)))).unwrap()
    };
    let all = predict(&[file("sagittal"), file("coronal"), file("axial")]);
    assert_eq!(all["finding"], "acl");
    assert_eq!(all["planes"].as_array().unwrap().len(), 3);
    let used = all["planes_used"].as_array().unwrap().len();
    let accepted = all["planes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["probability"].is_number())
        .count();
    assert_eq!(used, accepted, "{all}");
    let p = all["probability"].as_f64();
    assert!(
        used == 0 || p.is_some_and(|p| (0.0..=1.0).contains(&p)),
        "{all}"
    );
    let err = refused(&[
        "predict",
        "--run",
        out.join("acl").to_str().unwrap(),
        "--force",
        file("sagittal").to_str().unwrap(),
    ]);
    assert!(err.contains("--force and --roi do not apply"), "{err}");
    let two = predict(&[file("sagittal"), file("coronal")]);
    assert_eq!(two["planes"][2]["not_used"], "no axial series", "{two}");
    assert!(
        !two["planes_used"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("axial"))
    );

    // The whole knee: one study read once, every finding called from it, the same call as
    // each finding's combined run makes alone.
    let knee = out.join("knee");
    let read_knee = |files: &[PathBuf]| -> serde_json::Value {
        let mut args = vec![
            "predict".to_string(),
            "--run".into(),
            knee.to_str().unwrap().into(),
            "--json".into(),
        ];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
        serde_json::from_str(&succeeded(&cruciate(&as_str(&args)))).unwrap()
    };
    let whole = read_knee(&[file("sagittal"), file("coronal"), file("axial")]);
    let findings = whole["findings"].as_array().unwrap();
    let names: Vec<&str> = findings
        .iter()
        .map(|f| f["finding"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["abnormal", "acl", "meniscus"], "{whole}");
    assert_eq!(findings[1]["probability"], all["probability"], "{whole}");
    assert_eq!(findings[1]["planes_used"], all["planes_used"], "{whole}");
    assert_eq!(whole["synthetic_model"], true);
    let two_planes = read_knee(&[file("sagittal"), file("coronal")]);
    for f in two_planes["findings"].as_array().unwrap() {
        assert_eq!(f["planes"][2]["not_used"], "no axial series", "{f}");
    }
    let text = succeeded(&cruciate(&[
        "predict",
        "--run",
        knee.to_str().unwrap(),
        file("sagittal").to_str().unwrap(),
    ]));
    for line in ["abnormality", "ACL tear", "meniscal tear", "synthetic"] {
        assert!(text.contains(line), "{line}: {text}");
    }
    // Explained finding by finding, plane by plane, each network on its own series.
    let explained = dir.path().join("knee-explained");
    let said = succeeded(&cruciate(&[
        "explain",
        "--run",
        knee.to_str().unwrap(),
        "--force",
        "--out",
        explained.to_str().unwrap(),
        file("sagittal").to_str().unwrap(),
        file("coronal").to_str().unwrap(),
    ]));
    for finding in ["abnormal", "acl", "meniscus"] {
        for plane in ["sagittal", "coronal"] {
            let e: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(explained.join(format!("{finding}-{plane}/explain.json")))
                    .unwrap(),
            )
            .unwrap();
            assert!(
                e["slice_importance"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{finding}-{plane}: {e}"
            );
            assert!(
                explained
                    .join(format!("{finding}-{plane}/slice_importance.svg"))
                    .is_file()
            );
        }
        assert!(
            said.contains(&format!("{finding}-axial: no axial series in the study")),
            "{said}"
        );
        assert!(!explained.join(format!("{finding}-axial")).exists());
    }

    // Every finding scored on the test split, with the macro AUC over them.
    let report_dir = dir.path().join("knee-report");
    let said = succeeded(&cruciate(&[
        "evaluate",
        "--run",
        knee.to_str().unwrap(),
        "--manifest",
        out.join("manifest.csv").to_str().unwrap(),
        "--split",
        "test",
        "--out",
        report_dir.to_str().unwrap(),
    ]));
    assert!(said.contains("Macro AUC over the findings"), "{said}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("reading-report.json")).unwrap(),
    )
    .unwrap();
    let imported = Manifest::read(&out.join("manifest.csv")).unwrap();
    let test: Vec<_> = imported.split(Split::Test).collect();
    let test_cases = test.len();
    assert_eq!(report["exams"], test_cases, "{report}");
    assert_eq!(report["exams_read"].as_array().unwrap().len(), test_cases);
    let rows = report["findings"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row["labelled"], test_cases, "{row}");
        let positive = test
            .iter()
            .filter(|r| match row["finding"].as_str().unwrap() {
                "abnormal" => r.abnormal == Some(1),
                "acl" => r.label > 0,
                _ => r.meniscus == Some(1),
            })
            .count();
        assert_eq!(row["positive"], positive, "{row}");
        assert!(row["analysed"].as_u64().unwrap() <= test_cases as u64);
        assert_eq!(row["finding"], names[k]);
    }
    let aucs: Vec<f64> = rows.iter().filter_map(|r| r["auc"].as_f64()).collect();
    match report["macro_auc"].as_f64() {
        Some(m) => {
            assert_eq!(aucs.len(), 3, "{report}");
            assert!(
                (m - aucs.iter().sum::<f64>() / 3.0).abs() < 1e-12,
                "{report}"
            );
        }
        None => assert!(aucs.len() < 3, "{report}"),
    }
    // reproduce's table scored the same reading, each study read once for it and its informed
    // twin: the same figures as `evaluate` gives.
    let reproduced = std::fs::read_to_string(out.join("reproduce.md")).unwrap();
    let knee_row = reproduced
        .lines()
        .find(|l| l.starts_with("| knee (synthetic data) |"))
        .unwrap_or_else(|| panic!("{reproduced}"));
    let macro_text = report["macro_auc"]
        .as_f64()
        .map_or("n/a".to_string(), |m| format!("{m:.3}"));
    assert!(
        knee_row.ends_with(&format!("| {macro_text} |")),
        "{knee_row} against {report}"
    );
    for row in rows {
        let auc = row["auc"].as_f64().map(|a| format!("{a:.3}"));
        assert!(
            auc.is_none_or(|a| knee_row.contains(&format!("| {a} ("))),
            "{knee_row}: {row}"
        );
    }
    // Readings side by side: every finding of each, "-" where one lacks it, the macro AUC.
    let two = dir.path().join("two-findings");
    succeeded(&cruciate(&[
        "reading",
        out.join("acl").to_str().unwrap(),
        out.join("meniscus").to_str().unwrap(),
        "--out",
        two.to_str().unwrap(),
    ]));
    let compared = dir.path().join("compared");
    let table = succeeded(&cruciate(&[
        "compare",
        knee.to_str().unwrap(),
        two.to_str().unwrap(),
        "--manifest",
        out.join("manifest.csv").to_str().unwrap(),
        "--split",
        "test",
        "--out",
        compared.to_str().unwrap(),
    ]));
    assert!(
        table.starts_with(
            "| reading | exams | abnormality AUC (95 % CI) | ACL tear AUC (95 % CI) | meniscal tear AUC (95 % CI) | macro AUC |"
        ),
        "{table}"
    );
    let two_row = table
        .lines()
        .find(|l| l.contains("two-findings"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(two_row.contains("| - |"), "no abnormality model: {two_row}");
    assert!(compared.join("compare.html").is_file());
    let mixed = refused(&[
        "compare",
        knee.to_str().unwrap(),
        out.join("runs/acl-sagittal").to_str().unwrap(),
        "--manifest",
        out.join("manifest.csv").to_str().unwrap(),
    ]);
    assert!(mixed.contains("is not a reading"), "{mixed}");

    // Findings that inform each other: per finding, a regression over every finding's own
    // probability (each set of the others, for studies where one is not analysed), fitted on
    // the validation exams; the call is that regression's, the model's own kept beside it.
    let informed = dir.path().join("knee-informed");
    let manifest_path = out.join("manifest.csv");
    let said = succeeded(&cruciate(&[
        "reading",
        out.join("abnormal").to_str().unwrap(),
        out.join("acl").to_str().unwrap(),
        out.join("meniscus").to_str().unwrap(),
        "--manifest",
        manifest_path.to_str().unwrap(),
        "--fit-on",
        "valid",
        "--out",
        informed.to_str().unwrap(),
    ]));
    let valid_cases = Manifest::read(&manifest_path)
        .unwrap()
        .split(Split::Valid)
        .count();
    assert!(
        said.contains(&format!(
            "12 regressions fitted on {valid_cases} valid exams"
        )),
        "{said}"
    );
    let written = cruciate_infer::ReadingRun::read(&informed)
        .unwrap()
        .unwrap();
    assert_eq!(
        written.format, 2,
        "a reading older builds cannot apply is marked newer"
    );
    let across = written.across.unwrap();
    let mut args = vec![
        "predict".to_string(),
        "--run".into(),
        informed.to_str().unwrap().into(),
        "--json".into(),
    ];
    args.extend(["sagittal", "coronal", "axial"].map(|p| file(p).to_str().unwrap().to_string()));
    let read: serde_json::Value =
        serde_json::from_str(&succeeded(&cruciate(&as_str(&args)))).unwrap();
    let calls = read["findings"].as_array().unwrap();
    let own = |name: &str| {
        calls.iter().find(|f| f["finding"] == name).unwrap()["own_probability"]
            .as_f64()
            .unwrap()
    };
    for (call, uninformed) in calls.iter().zip(whole["findings"].as_array().unwrap()) {
        let name = call["finding"].as_str().unwrap();
        // The models' own calls are the reading's without the regressions (abnormality's
        // where the plain reading did not raise it).
        if uninformed.get("raised_by").is_none() {
            assert_eq!(call["own_probability"], uninformed["probability"], "{call}");
        }
        assert_eq!(call["informed_by"].as_array().unwrap().len(), 2, "{call}");
        let finding: cruciate_data::Finding = name.parse().unwrap();
        let combiner = across
            .combiner(finding, &cruciate_data::Finding::ALL)
            .unwrap();
        assert_eq!(combiner.inputs[0], finding);
        let inputs: Vec<f64> = combiner.inputs.iter().map(|f| own(f.name())).collect();
        let expected = combiner.probability(&inputs);
        let got = call["probability"].as_f64().unwrap();
        match call.get("raised_by") {
            // Abnormality, raised to a finding it includes after the regressions.
            Some(by) => assert!(got > expected && by.is_string(), "{call}: {expected}"),
            None => assert!((got - expected).abs() < 1e-12, "{call}: {expected}"),
        }
    }
    let one = refused(&[
        "reading",
        out.join("acl").to_str().unwrap(),
        "--manifest",
        manifest_path.to_str().unwrap(),
        "--out",
        dir.path().join("one-informed").to_str().unwrap(),
    ]);
    assert!(one.contains("no other finding to inform it"), "{one}");
    assert!(!dir.path().join("one-informed").exists());
    let unlabelled = dir.path().join("no-meniscus.csv");
    let mut without = Manifest::read(&manifest_path).unwrap();
    without.rows.iter_mut().for_each(|r| r.meniscus = None);
    without.write(&unlabelled).unwrap();
    let err = refused(&[
        "reading",
        out.join("acl").to_str().unwrap(),
        out.join("meniscus").to_str().unwrap(),
        "--manifest",
        unlabelled.to_str().unwrap(),
        "--out",
        dir.path().join("no-meniscus").to_str().unwrap(),
    ]);
    assert!(
        err.contains("the valid exams carry no meniscal tear label"),
        "{err}"
    );
    assert!(!dir.path().join("no-meniscus").exists());

    // One model per finding; a folder that holds no model is refused, and nothing written.
    let twice = refused(&[
        "reading",
        out.join("acl").to_str().unwrap(),
        out.join("runs/acl-coronal").to_str().unwrap(),
        "--out",
        dir.path().join("twice").to_str().unwrap(),
    ]);
    assert!(twice.contains("acl is read twice"), "{twice}");
    assert!(!dir.path().join("twice").exists());
    let nothing = refused(&[
        "reading",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(!dir.path().join("nothing").exists(), "{nothing}");

    // Interrupted or repeated, nothing is trained twice.
    let again = succeeded(&reproduce());
    assert_eq!(again.matches("trained already").count(), 9, "{again}");

    // Only the ACL is graded; runs of two findings are not combined.
    let manifest = out.join("manifest.csv");
    let err = refused(&[
        "train",
        "--manifest",
        manifest.to_str().unwrap(),
        "--out",
        dir.path().join("graded").to_str().unwrap(),
        "--finding",
        "meniscus",
        "--task",
        "grade",
    ]);
    assert!(err.contains("--task binary"), "{err}");
    let combine_refused = |other: &str, folder: &str| {
        refused(&[
            "combine",
            out.join("runs/acl-sagittal").to_str().unwrap(),
            out.join("runs").join(other).to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            dir.path().join(folder).to_str().unwrap(),
        ])
    };
    let err = combine_refused("meniscus-coronal", "mixed");
    assert!(err.contains("combine the planes of one finding"), "{err}");
    let err = combine_refused("acl-sagittal", "twice");
    assert!(err.contains("two runs read the sagittal plane"), "{err}");
}

/// `reproduce mrnet --joint`: one network per plane with a head per finding, written as a run
/// per finding that the regressions, the reading of the knee and `predict` read as any run;
/// cross-validated and searched, each finding scored on its labels; `--set-for`, which sets
/// one finding's networks, refuses it in one line.
#[test]
fn mrnet_with_joint_networks_is_reproduced_and_read_as_any_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, _) = common::phantom_mrnet_layout(dir.path(), 40);
    let out = dir.path().join("joint");
    let err = refused(&[
        "reproduce",
        "mrnet",
        layout.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--joint",
        "--set-for",
        "meniscus:data.size=64",
    ]);
    assert!(err.contains("share each plane's network"), "{err}");
    let said = succeeded(&common::reproduce_tiny(&layout, &out, &["--joint"]));
    for row in [
        "| abnormality |",
        "| ACL tear |",
        "| meniscal tear |",
        "synthetic data",
    ] {
        assert!(said.contains(row), "{row}: {said}");
    }
    let findings = ["abnormal", "acl", "meniscus"];
    for plane in ["sagittal", "coronal", "axial"] {
        let joint = out.join("runs").join(format!("joint-{plane}"));
        assert!(joint.join("summary.json").is_file() && joint.join("model.bpk").is_file());
        assert!(
            !joint.join("run.json").exists(),
            "the joint network is not a run to serve"
        );
        let mut sizes = Vec::new();
        let mut digests = Vec::new();
        for finding in findings {
            let run = joint.join(finding);
            let info: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap())
                    .unwrap();
            assert_eq!(info["finding"], finding);
            assert_eq!(info["classes"].as_array().unwrap().len(), 2, "{info}");
            let description = info["model"]["description"].as_str().unwrap();
            assert!(
                description.contains(&format!("the {finding} head of a joint network")),
                "{description}"
            );
            assert_eq!(info["gate"]["plane"].as_str().unwrap_or("sagittal"), plane);
            let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
            assert!(
                config.contains(&format!("finding = \"{finding}\"")),
                "{config}"
            );
            assert!(!config.contains("findings"), "{config}");
            sizes.push(std::fs::metadata(run.join("model.bpk")).unwrap().len());
            digests.push(info["model"]["sha256"].clone());
        }
        assert!(
            sizes.windows(2).all(|w| w[0] == w[1]),
            "one backbone, heads of one shape: {sizes:?}"
        );
        digests.dedup();
        assert_eq!(digests.len(), 3, "each finding's own head");
    }
    for finding in findings {
        let combined: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(finding).join("combined.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(combined["finding"], finding);
        assert_eq!(
            combined["runs"][0]["run"],
            format!("../runs/joint-sagittal/{finding}")
        );
    }
    let file = valid_case(&layout);
    let knee: serde_json::Value = serde_json::from_str(&succeeded(&cruciate(&[
        "predict",
        "--run",
        out.join("knee").to_str().unwrap(),
        "--json",
        file("sagittal").to_str().unwrap(),
        file("coronal").to_str().unwrap(),
        file("axial").to_str().unwrap(),
    ])))
    .unwrap();
    let called: Vec<&str> = knee["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"].as_str().unwrap())
        .collect();
    assert_eq!(called, findings, "{knee}");
    let err = refused(&[
        "predict",
        "--run",
        out.join("runs/joint-sagittal").to_str().unwrap(),
        file("sagittal").to_str().unwrap(),
    ]);
    assert!(
        err.contains("holds a joint network of abnormal, acl, meniscus"),
        "{err}"
    );
    assert!(err.contains("joint-sagittal/abnormal"), "{err}");

    // Cross-validated as one network answering two findings: each fold trained once, scored on
    // each finding's labels, its figures their mean (the macro figures).
    let manifest = out.join("manifest.csv");
    let cv = dir.path().join("cv");
    let mut args = vec![
        "cv",
        "--manifest",
        manifest.to_str().unwrap(),
        "--set",
        "model.findings=[\"acl\", \"meniscus\"]",
        "--folds",
        "2",
        "--out",
        cv.to_str().unwrap(),
    ];
    args.extend(common::TINY_NETWORK);
    let said = succeeded(&cruciate(&args));
    for line in [
        "pooled ACL tear",
        "pooled meniscal tear",
        "(mean over the findings)",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cv.join("cv.json")).unwrap()).unwrap();
    let mean_of = |figures: &serde_json::Value, key: &str| -> Option<f64> {
        let values: Option<Vec<f64>> = figures
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f[key].as_f64())
            .collect();
        values.map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    let pooled = &report["pooled_findings"];
    let names: Vec<&str> = pooled
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acl", "meniscus"], "{report}");
    assert_eq!(
        mean_of(pooled, "accuracy"),
        report["pooled"]["accuracy"].as_f64()
    );
    let exams = Manifest::read(&manifest)
        .unwrap()
        .rows
        .iter()
        .filter(|r| r.split != Split::Test)
        .count();
    for (k, fold) in report["folds"].as_array().unwrap().iter().enumerate() {
        assert_eq!(fold["findings"].as_array().unwrap().len(), 2, "{fold}");
        assert_eq!(
            mean_of(&fold["findings"], "accuracy"),
            fold["accuracy"].as_f64()
        );
        let run = cv.join(format!("fold-{}", k + 1));
        assert!(!run.join("run.json").exists() && run.join("acl/run.json").is_file());
        assert!(run.join("meniscus/run.json").is_file());
    }
    let mut calls = csv::Reader::from_path(cv.join("predictions.csv")).unwrap();
    let findings: Vec<String> = calls.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(
        findings.len(),
        2 * exams,
        "every exam held out once per finding"
    );
    assert_eq!(findings.iter().filter(|f| *f == "meniscus").count(), exams);

    // A search over joint networks: each trial cross-validated so, the best refitted as a joint
    // run of both findings.
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "path = \"network\"\n[search]\n\"model.name\" = [\"small\"]\n\"train.epochs\" = [1]\n\
         \"data.size\" = [32]\n\"data.slices\" = [4]\n\"model.findings\" = [[\"acl\", \"meniscus\"]]\n\
         \"optim.lr\" = [0.001, 0.0001]\n",
    )
    .unwrap();
    let tuned = dir.path().join("tune");
    let said = succeeded(&cruciate(&[
        "tune",
        "--manifest",
        manifest.to_str().unwrap(),
        "--space",
        space.to_str().unwrap(),
        "--folds",
        "2",
        "--out",
        tuned.to_str().unwrap(),
    ]));
    assert!(said.contains("2 trials x 2 folds"), "{said}");
    for trial in ["001", "002"] {
        let cv: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tuned.join(format!("trials/{trial}/cv.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(cv["pooled_findings"].as_array().unwrap().len(), 2, "{cv}");
    }
    for finding in ["acl", "meniscus"] {
        assert!(
            tuned
                .join("best-run")
                .join(finding)
                .join("run.json")
                .is_file()
        );
    }
}

#[test]
fn a_folder_of_dicom_studies_is_labelled_from_a_csv_of_reads() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("pacs-export");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        synth.to_str().unwrap(),
        "--exams",
        "8",
        "--format",
        "dicom",
        "--size",
        "64",
        "--slices",
        "12..12",
        "--seed",
        "9",
    ]));
    let phantoms = Manifest::read(&synth.join("manifest.csv")).unwrap();
    std::fs::write(synth.join("exams/README.txt"), "exported by hand").unwrap();
    let study_of = |row: &cruciate_data::ManifestRow| -> String {
        let said = succeeded(&cruciate(&[
            "inspect",
            phantoms.resolve(row).to_str().unwrap(),
            "--json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&said).unwrap();
        v["study_id"].as_str().unwrap().to_string()
    };
    let studies: Vec<String> = phantoms.rows.iter().map(study_of).collect();
    let reads = dir.path().join("reads.csv");
    let mut text = "id,grade\n".to_string();
    for (row, uid) in phantoms.rows.iter().zip(&studies).skip(1) {
        text += &format!("{uid},{}\n", row.label);
    }
    std::fs::write(&reads, &text).unwrap();
    let out = dir.path().join("dicom/manifest.csv");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "data",
            "import",
            "dicom",
            synth.join("exams").to_str().unwrap(),
            "--labels",
            reads.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // The first study has no read: refused, naming it.
    let err = refused(&as_str(&args(&[])));
    assert!(
        err.contains(&format!(
            "study {} (accession none) has no read",
            studies[0]
        )),
        "{err}"
    );
    assert!(!out.exists());
    // Listed as skipped when asked.
    let said = succeeded(&cruciate(&as_str(&args(&["--skip-unlabelled"]))));
    assert!(said.contains("has no read"), "{said}");
    assert!(said.contains("README.txt: not a DICOM file"), "{said}");
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.rows.len(), 7);
    for (row, uid) in phantoms.rows.iter().zip(&studies).skip(1) {
        let got = m.rows.iter().find(|r| &r.exam_id == uid).unwrap();
        assert_eq!(got.label, row.label);
        assert!(
            got.path.ends_with(&format!("exams/{}", row.exam_id)),
            "{}",
            got.path
        );
        assert!(
            got.patient_id().starts_with("patient-"),
            "no PatientID in the manifest"
        );
    }
    splits_are_sound(&m, false);
    trains_on(&out, dir.path());

    // A read for a study that is not there, and a grade off the scale.
    std::fs::write(&reads, format!("{text}1.2.3.4,2\n{},7\n", studies[0])).unwrap();
    let err = refused(&as_str(&args(&["--skip-unlabelled"])));
    assert!(err.contains("1.2.3.4 is read but no study"), "{err}");
    assert!(err.contains("grade 7 is not 0..3"), "{err}");
}

#[test]
fn a_split_of_one_side_is_warned_about_at_import_and_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = mrnet_layout(dir.path(), 16, 12);
    // MRNet's valid part (our test split) read as all healthy.
    let healthy: String = (12..16).map(|i| format!("{i:04},0\n")).collect();
    std::fs::write(root.join("valid-acl.csv"), healthy).unwrap();
    let out = dir.path().join("mrnet.csv");
    let said = succeeded(&cruciate(&[
        "data",
        "import",
        "mrnet",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        said.contains(
            "warning: the test split holds only healthy exams (4): injured-vs-healthy AUC"
        ),
        "{said}"
    );
    // Evaluated there, the report says why AUC is missing, draws no ROC, and its notes say the
    // figures are on real exams of a research dataset (dataset.json says real).
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/demo");
    let report = dir.path().join("ev");
    let evaluated = succeeded(&cruciate(&[
        "evaluate",
        "--run",
        demo.to_str().unwrap(),
        "--manifest",
        out.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        report.to_str().unwrap(),
    ]));
    assert!(
        evaluated.contains("warning: the test split holds only healthy exams (4)"),
        "{evaluated}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert!(json["auc"]["value"].is_null());
    assert_eq!(json["synthetic_data"], false);
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1, "{json}");
    let page = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(!page.contains("ROC, injured vs healthy"), "no empty ROC");
    assert!(page.contains("the test split holds only healthy exams"));
    assert!(page.contains("Figures on the exams of this manifest, for research"));
    assert!(!page.contains("Figures on synthetic phantoms"));
}
