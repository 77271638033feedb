//! The localiser from the command line: trained on phantoms' boxes, asked for one exam's region
//! (and for an empty one's), evaluated with IoU and centre distance, and put in front of the
//! bundled demo classifier as a cascade run that `predict` and the service take.

mod common;

use common::{QUICK_NETWORK, cruciate, succeeded};
use serde_json::Value;

/// The call `predict --json` makes with `run` on `exam`.
fn predicted(run: &std::path::Path, exam: &std::path::Path) -> Value {
    json(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        exam.to_str().unwrap(),
        "--json",
    ])
}

/// What a `--json` command printed.
fn json(args: &[&str]) -> Value {
    serde_json::from_str(&succeeded(&cruciate(args))).unwrap()
}

#[test]
fn a_localiser_is_trained_evaluated_and_cascaded_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    succeeded(&cruciate(&[
        "synth", "--out", d, "--exams", "48", "--seed", "3", "--size", "64", "--slices", "14..18",
    ]));
    let manifest = data.join("manifest.csv");
    let m = manifest.to_str().unwrap();
    let run = dir.path().join("loc");
    let r = run.to_str().unwrap();
    let trained = succeeded(&cruciate(&[
        "localise",
        "train",
        "--manifest",
        m,
        "--out",
        r,
        "--size",
        "64",
        "--epochs",
        "12",
        "--batch-size",
        "8",
    ]));
    assert!(trained.contains("localiser trained on"), "{trained}");

    // One exam's region, as JSON.
    let exam = data.join("exams/sagittal/00001.npy");
    let found: Value = json(&["localise", "--run", r, exam.to_str().unwrap(), "--json"]);
    assert!(found["found"].is_boolean(), "{found}");
    // An exam of zeros: no region, said in words, not an error.
    let empty = dir.path().join("empty.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (12, 64, 64), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let header = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(vec![0u8; 12 * 64 * 64]);
    std::fs::write(&empty, bytes).unwrap();
    let none: Value = json(&["localise", "--run", r, empty.to_str().unwrap(), "--json"]);
    assert_eq!(none["found"], false, "{none}");
    assert!(
        none["reason"].as_str().unwrap().contains("ACL region"),
        "{none}"
    );

    // Evaluated on the test split: IoU, centre distance, slice hits, a figure.
    let report_dir = dir.path().join("loc-report");
    let said = succeeded(&cruciate(&[
        "evaluate",
        "--run",
        r,
        "--manifest",
        m,
        "--split",
        "test",
        "--out",
        report_dir.to_str().unwrap(),
    ]));
    assert!(said.contains("mean 3-D IoU"), "{said}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap()).unwrap();
    let s = &report["summary"];
    let exams = report["exams"].as_array().unwrap();
    assert_eq!(s["exams"].as_u64().unwrap() as usize, exams.len());
    let mean: f64 = exams
        .iter()
        .map(|e| e["iou"].as_f64().unwrap())
        .sum::<f64>()
        / exams.len() as f64;
    assert!(
        (s["mean_iou"].as_f64().unwrap() - mean).abs() < 1e-9,
        "the summary is the mean of the rows"
    );
    assert!(mean > 0.45, "mean IoU {mean}");
    assert_eq!(report["synthetic_model"], true);
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(html.contains("data:image/png;base64,") && html.contains("synthetic"));

    // A cascade of the localiser and the bundled demo classifier, predicted like any run.
    let demo = cruciate_testkit::workspace_root().join("crates/server/demo");
    let cascade = dir.path().join("cascade");
    let c = cascade.to_str().unwrap();
    succeeded(&cruciate(&[
        "cascade",
        "--localiser",
        r,
        "--classifier",
        demo.to_str().unwrap(),
        "--margin",
        "1,8,8",
        "--out",
        c,
    ]));
    let p: Value = json(&["predict", "--run", c, exam.to_str().unwrap(), "--json"]);
    assert_eq!(p["kind"], "cascade");
    if found["found"] == true {
        assert!(p["region"].is_object(), "{p}");
    }
    // The empty exam is constant: the input gate refuses it (no call), and --force shows the
    // call with the cascade's fallback warning.
    let refused: Value = json(&["predict", "--run", c, empty.to_str().unwrap(), "--json"]);
    assert_eq!(refused["verdict"]["status"], "abstained", "{refused}");
    assert!(refused.get("warnings").is_none(), "{refused}");
    let fallback: Value = json(&[
        "predict",
        "--run",
        c,
        empty.to_str().unwrap(),
        "--json",
        "--force",
    ]);
    assert_eq!(fallback["outside_domain"], true, "{fallback}");
    assert!(
        fallback["warnings"][0]
            .as_str()
            .unwrap()
            .contains("whole exam was classified"),
        "{fallback}"
    );
    // The service puts the localiser in front of its model (--roi auto): the region is in the
    // result and on the Secondary Capture.
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let serve_behind_localiser = |data: &std::path::Path, model: &std::path::Path| {
        common::Server::start(
            data,
            &[
                "--config",
                config.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
                "--roi",
                "auto",
                "--localiser",
                r,
                "--roi-margin",
                "1,8,8",
            ],
        )
    };
    let server = serve_behind_localiser(&dir.path().join("service"), &demo);
    let (code, accepted) = server.upload(&exam, "knee.npy", &server.token);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let done = server.wait_for_exam(id, &server.token, std::time::Duration::from_secs(120));
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["model"], "demo-roi", "{done}");
    if found["found"] == true {
        assert_eq!(
            done["result"]["region"][0],
            found["roi"]["s0"].as_u64().unwrap().saturating_sub(1)
        );
    }
    let (code, sc) = server.get_bytes(&format!("/api/v1/exams/{id}/sc/1.dcm"), &server.token);
    assert_eq!(code, 200);
    assert!(sc.len() > 1000);
    drop(server);

    // A reading behind the localiser: its sagittal ACL run as a cascade, the call the
    // cascade's.
    let knee = dir.path().join("knee");
    succeeded(&cruciate(&[
        "reading",
        "--out",
        knee.to_str().unwrap(),
        demo.to_str().unwrap(),
    ]));
    let served = dir.path().join("service-reading");
    let server = serve_behind_localiser(&served, &knee);
    // A reading reads each plane's series of a study: a DICOM series, whose plane is known.
    let study = common::phantom_dicom_zip(dir.path());
    let (code, accepted) = server.upload(&study, "knee.zip", &server.token);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let done = server.wait_for_exam(id, &server.token, std::time::Duration::from_secs(120));
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["model"], "knee-roi", "{done}");
    let acl = &done["result"]["findings"][0];
    assert_eq!(acl["finding"], "acl", "{done}");
    let alone: Value = json(&[
        "predict",
        "--run",
        served.join("models/roi/knee-roi/acl-roi").to_str().unwrap(),
        study.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(alone["kind"], "cascade");
    assert_eq!(
        acl["call"]["probability"], alone["injured_probability"],
        "{acl} {alone}"
    );
    let prediction = &acl["call"]["prediction"];
    assert_eq!(prediction["region"], alone["region"], "{acl} {alone}");
    drop(server);

    // A network trained on the found regions, with its cascade written beside it.
    let roi_run = dir.path().join("small-roi");
    let roi_out = roi_run.to_str().unwrap();
    let auto = [
        "--roi",
        "auto",
        "--localiser",
        r,
        "--roi-margin",
        "1,8,8",
        "--out",
        roi_out,
    ];
    let said = succeeded(&cruciate(
        &[&["train", "--manifest", m][..], &QUICK_NETWORK, &auto].concat(),
    ));
    assert!(said.contains("cascade"), "{said}");
    let p = predicted(&roi_run.join("cascade"), &exam);
    assert_eq!(p["kind"], "cascade");
    // The same network through an in-memory cascade: the same call.
    let q = json(&[
        "predict",
        "--run",
        roi_run.to_str().unwrap(),
        "--roi",
        "auto",
        "--localiser",
        r,
        "--roi-margin",
        "1,8,8",
        exam.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(p["probabilities"], q["probabilities"]);
    // The network alone, given the whole exam, says it expects regions.
    let alone = predicted(&roi_run, &exam);
    let warned = |v: &Value| {
        v["warnings"].as_array().is_some_and(|ws| {
            ws.iter()
                .any(|w| w.as_str().unwrap().contains("trained on ACL regions"))
        })
    };
    assert!(warned(&alone), "{alone}");
    if found["found"] == true {
        assert!(!warned(&p), "the cascade gives it a region: {p}");
    }
    let refused = cruciate(&[
        "predict",
        "--run",
        roi_run.to_str().unwrap(),
        "--roi",
        "manifest",
        exam.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--roi auto"));
    // Cross-validated on the manifest's boxes: every fold scored through the crop.
    let cv = dir.path().join("cv-roi");
    let cv_out = cv.to_str().unwrap();
    let folds = ["--roi", "manifest", "--folds", "2", "--out", cv_out];
    let said = succeeded(&cruciate(
        &[&["cv", "--manifest", m][..], &QUICK_NETWORK, &folds].concat(),
    ));
    assert!(said.to_lowercase().contains("auc"), "{said}");

    // Features of the found regions, an SVM on them with its cascade, and a search on them.
    let small_features = [
        "features",
        "--manifest",
        m,
        "--backbone",
        "small",
        "--size",
        "32",
        "--slices",
        "central:4",
    ];
    let feats = dir.path().join("feats-roi");
    let found_region = ["--roi", "auto", "--localiser", r, "--roi-margin", "1,8,8"];
    let said = succeeded(&cruciate(
        &[
            &small_features[..],
            &found_region,
            &["--out", feats.to_str().unwrap()],
        ]
        .concat(),
    ));
    assert!(said.contains("ACL box heatmap-small finds"), "{said}");
    let svm = dir.path().join("svm-roi");
    let said = succeeded(&cruciate(&[
        "svm",
        "train",
        "--features",
        feats.to_str().unwrap(),
        "--out",
        svm.to_str().unwrap(),
    ]));
    assert!(said.contains("cascade"), "{said}");
    let p = predicted(&svm.join("cascade"), &exam);
    assert_eq!(p["kind"], "cascade");
    if found["found"] == true {
        assert!(p["region"].is_object(), "{p}");
    }
    let alone = predicted(&svm, &exam);
    assert!(warned(&alone), "{alone}");
    // Whole-slice features of the same settings are other features (another key).
    let whole = dir.path().join("feats-whole");
    let said_whole = succeeded(&cruciate(
        &[&small_features[..], &["--out", whole.to_str().unwrap()]].concat(),
    ));
    assert!(!said_whole.contains("ACL box"), "{said_whole}");
    let space = dir.path().join("space.toml");
    std::fs::write(
        &space,
        "path = \"svm\"\n[features]\nbackbone = \"small\"\nsize = 32\n[search]\nc = [1.0, 10.0]\nslices = [\"central:4\"]\n",
    )
    .unwrap();
    let tuned = dir.path().join("tune-roi");
    succeeded(&cruciate(&[
        "tune",
        "--manifest",
        m,
        "--space",
        space.to_str().unwrap(),
        "--folds",
        "2",
        "--roi",
        "auto",
        "--localiser",
        r,
        "--roi-margin",
        "1,8,8",
        "--out",
        tuned.to_str().unwrap(),
    ]));
    let p = predicted(&tuned.join("best-run/cascade"), &exam);
    assert_eq!(p["kind"], "cascade");
    // The service takes no manifest boxes.
    let refused = cruciate(&["serve", "--roi", "manifest"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no manifest box"));

    // A classifier is not a localiser.
    let refused = cruciate(&[
        "cascade",
        "--localiser",
        demo.to_str().unwrap(),
        "--classifier",
        demo.to_str().unwrap(),
        "--out",
        c,
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a localiser"));
}
