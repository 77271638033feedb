//! A reading of the whole knee served: MRNet's recipe trained on a phantom layout gives a
//! reading of three findings over three planes; the service runs it on a three-series DICOM
//! study sent by dcmtk's `storescu` and on an uploaded study without its axial series, and
//! shows every finding in the worklist, the viewer's images, the SR (checked by dicom3tools'
//! `dciodvfy`), the Secondary Captures and the FHIR report.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, cruciate, succeeded, three_plane_studies, trained_reading, zip_folder};
use cruciate_testkit::{dciodvfy_errors, system_tool};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(180);

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for plane in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(plane.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

/// The done exam whose file name ends with `suffix`.
fn wait_for_named(server: &Server, suffix: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let list = server.get("/api/v1/exams", Some(&server.token)).1;
        let exams = list["exams"].as_array().cloned().unwrap_or_default();
        if let Some(e) = exams
            .iter()
            .find(|e| e["filename"].as_str().is_some_and(|f| f.ends_with(suffix)))
        {
            assert_ne!(e["status"], "failed", "{e}");
            if e["status"] == "done" {
                return e.clone();
            }
        }
        assert!(started.elapsed() < LIMIT, "no exam {suffix}: {list}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn finding<'a>(findings: &'a Value, name: &str) -> &'a Value {
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["finding"] == name)
        .unwrap_or_else(|| panic!("no {name} in {findings}"))
}

#[test]
fn a_reading_serves_three_findings_over_three_planes_and_says_what_a_missing_plane_left_out() {
    let (Some(storescu), Some(_)) = (system_tool("storescu"), system_tool("dciodvfy")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let reading = trained_reading(dir.path());
    // Drift is watched on the ACL's sagittal network: give it a reference (its 40 phantoms hold
    // too few held-out exams to fit one), the demo model's, whose signals are of the same kind.
    let plane_runs = cruciate_infer::reading::ReadingRun::read(&reading)
        .unwrap()
        .unwrap()
        .plane_runs(&reading)
        .unwrap();
    let (_, plane, acl_run) = plane_runs
        .iter()
        .find(|(f, ..)| *f == cruciate_data::Finding::Acl)
        .unwrap();
    assert_eq!(*plane, cruciate_volume::Plane::Sagittal);
    std::fs::copy(
        cruciate_testkit::workspace_root().join("crates/server/demo/drift.json"),
        acl_run.join("drift.json"),
    )
    .unwrap();
    let studies = three_plane_studies(dir.path());
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--model",
            reading.to_str().unwrap(),
            "--dicom-port",
            "0",
            "--stable-after",
            "1",
            "--dicom-allow",
            "MODALITY",
        ],
    );
    let (code, models) = server.get("/api/v1/models", Some(&server.token));
    assert_eq!(code, 200);
    assert_eq!(models[0]["kind"], "reading", "{models}");
    assert_eq!(
        models[0]["findings"],
        serde_json::json!(["abnormal", "acl", "meniscus"])
    );
    assert_eq!(models[0]["synthetic"], true);

    // The whole study by C-STORE: every finding read on every plane.
    let port = server.dicom_port.unwrap().to_string();
    let sent = Command::new(&storescu)
        .args(["-aet", "MODALITY", "-aec", "CRUCIATE", "127.0.0.1", &port])
        .args(files_below(&studies[0]))
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let item = wait_for_named(&server, "from MODALITY)");
    let id = item["id"].as_str().unwrap().to_string();
    assert_eq!(item["findings"].as_array().unwrap().len(), 3, "{item}");
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let result = &exam["result"];
    let planes: Vec<&str> = result["planes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plane"].as_str().unwrap())
        .collect();
    assert_eq!(planes, ["sagittal", "coronal", "axial"], "{result}");
    for name in ["abnormal", "acl", "meniscus"] {
        let f = finding(&result["findings"], name);
        let p = f["call"]["probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{f}");
        assert_eq!(
            f["call"]["planes_used"],
            serde_json::json!(["sagittal", "coronal", "axial"]),
            "{f}"
        );
        // The worklist's column holds the same call.
        let listed = finding(&item["findings"], name);
        assert_eq!(listed["probability"].as_f64().unwrap(), p);
        assert_eq!(listed["text"], f["text"]);
    }
    // An abnormal knee is at least as likely as the tears it includes, and says which raised it.
    let called = |name: &str| finding(&result["findings"], name)["call"].clone();
    let abnormal = called("abnormal");
    let included = ["acl", "meniscus"].map(|n| called(n)["probability"].as_f64().unwrap());
    let strongest = included.iter().copied().fold(0.0, f64::max);
    assert!(
        abnormal["probability"].as_f64().unwrap() >= strongest,
        "{result}"
    );
    if let Some(by) = abnormal["raised_by"].as_str() {
        assert_eq!(
            called(by)["probability"],
            abnormal["probability"],
            "{result}"
        );
    }
    // The headline is the ACL's combined call.
    assert_eq!(result["finding"], "acl");
    // The reading's stream is compared with its drift run's reference.
    let (code, drift) = server.get("/api/v1/drift", Some(&server.token));
    assert_eq!(code, 200, "{drift}");
    let stream = drift["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model"] == models[0]["name"])
        .unwrap_or_else(|| panic!("no stream of the reading: {drift}"));
    assert!(stream["check"].is_object(), "{stream}");
    let acl = finding(&result["findings"], "acl")["call"]["probability"]
        .as_f64()
        .unwrap();
    assert_eq!(result["injured_probability"].as_f64().unwrap(), acl);
    assert_eq!(item["injured_probability"].as_f64().unwrap(), acl);

    // The viewer's images: each plane's own series, each finding's heat on it.
    let shape = |plane: &str| -> Vec<u64> {
        let p = result["planes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plane"] == plane)
            .unwrap();
        p["exam"]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    for plane in ["sagittal", "coronal", "axial"] {
        let [_, rows, cols] = shape(plane)[..] else {
            panic!()
        };
        let (code, png) = server.get_bytes(
            &format!("/api/v1/exams/{id}/slices/0.png?plane={plane}"),
            &server.token,
        );
        assert_eq!(code, 200, "{plane}");
        let image = image_size(&png);
        assert_eq!(image, (cols as u32, rows as u32), "{plane}");
        let (code, _) = server.get_bytes(
            &format!("/api/v1/exams/{id}/cam/0.png?plane={plane}&finding=meniscus"),
            &server.token,
        );
        assert_eq!(code, 200, "{plane} meniscus heat");
    }
    let last = shape("coronal")[0];
    let (code, _) = server.get_bytes(
        &format!("/api/v1/exams/{id}/slices/{last}.png?plane=coronal"),
        &server.token,
    );
    assert_eq!(code, 404, "past the coronal series' last slice");
    for bad in ["plane=oblique", "plane=up", "finding=cartilage"] {
        let (code, body) = server.get(
            &format!("/api/v1/exams/{id}/slices/0.png?{bad}"),
            Some(&server.token),
        );
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some(), "{bad}: {body}");
    }

    // The radiologist reads every finding: the headline with its grade (/read), each other
    // finding as agreeing with its call or not; export-reads carries them into a manifest.
    let read = |path: &str, body: Value| {
        server.post_json(&format!("/api/v1/exams/{id}/{path}"), &server.token, body)
    };
    let meniscus_called = finding(&result["findings"], "meniscus")["call"]["probability"]
        .as_f64()
        .unwrap()
        >= 0.5;
    assert_eq!(
        read(
            "findings/meniscus/read",
            serde_json::json!({"agrees": false})
        )
        .0,
        204
    );
    assert_eq!(
        read(
            "findings/abnormal/read",
            serde_json::json!({"agrees": true})
        )
        .0,
        204
    );
    for (bad, why) in [
        ("findings/acl/read", "headline"),
        ("findings/cartilage/read", "unknown finding"),
    ] {
        let (code, body) = read(bad, serde_json::json!({"agrees": true}));
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{why}: {body}"
        );
    }
    assert_eq!(
        read("read", serde_json::json!({"grade": 3, "agrees": false})).0,
        204
    );
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let reads = exam["finding_reads"].as_array().unwrap();
    assert_eq!(reads.len(), 2, "{exam}");
    assert_eq!(reads[1]["finding"], "meniscus");
    assert_eq!(
        reads[1]["present"], !meniscus_called,
        "differs from the call"
    );
    assert_eq!(reads[1]["agrees"], false);
    let manifest = dir.path().join("reads.csv");
    let data = dir.path().join("data");
    succeeded(&cruciate(&[
        "export-reads",
        "--data",
        data.to_str().unwrap(),
        "--out",
        manifest.to_str().unwrap(),
    ]));
    let rows = cruciate_data::Manifest::read(&manifest).unwrap().rows;
    let row = rows.iter().find(|r| r.exam_id == id).unwrap();
    assert_eq!(row.label, 3);
    assert_eq!(row.meniscus, Some(u8::from(!meniscus_called)));
    let abnormal_called = finding(&result["findings"], "abnormal")["call"]["probability"]
        .as_f64()
        .unwrap()
        >= 0.5;
    assert_eq!(row.abnormal, Some(u8::from(abnormal_called)));

    // The SR holds the three findings, each with its probability, and passes dciodvfy; the
    // Secondary Captures are of each finding's key slices.
    let (code, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(code, 200);
    let sr_path = dir.path().join("sr.dcm");
    std::fs::write(&sr_path, &sr).unwrap();
    let errors = dciodvfy_errors(&sr_path).unwrap();
    assert!(errors.is_empty(), "SR: {errors:#?}");
    let reported = cruciate_dicom_results::read_findings(&sr).unwrap();
    assert_eq!(reported.len(), 3, "{reported:#?}");
    for (r, name) in reported.iter().zip(["abnormal", "acl", "meniscus"]) {
        let p = finding(&result["findings"], name)["call"]["probability"]
            .as_f64()
            .unwrap();
        assert!(
            (r.injured_probability.unwrap() - p).abs() < 1e-3,
            "{name}: {r:?}"
        );
    }
    assert!(
        ["MEN-NO-TEAR", "239720000"].contains(&reported[2].code.as_str()),
        "{reported:#?}"
    );
    let (code, sc) = server.get_bytes(&format!("/api/v1/exams/{id}/sc/4.dcm"), &server.token);
    assert_eq!(code, 200, "a picture past the first finding's");
    let sc_path = dir.path().join("sc4.dcm");
    std::fs::write(&sc_path, &sc).unwrap();
    let errors = dciodvfy_errors(&sc_path).unwrap();
    assert!(errors.is_empty(), "SC: {errors:#?}");

    // A heat map Segmentation per finding (and its attention region), each over the series it
    // was seen on.
    for n in 1..=6 {
        let (code, seg) =
            server.get_bytes(&format!("/api/v1/exams/{id}/seg/{n}.dcm"), &server.token);
        assert_eq!(code, 200, "SEG {n}");
        let path = dir.path().join(format!("seg{n}.dcm"));
        std::fs::write(&path, &seg).unwrap();
        let errors = dciodvfy_errors(&path).unwrap();
        assert!(errors.is_empty(), "SEG {n}: {errors:#?}");
        if let Some(read) = cruciate_testkit::segmentation_read_back(&path) {
            let read = read.unwrap();
            let kind = if n % 2 == 1 { "FRACTIONAL" } else { "BINARY" };
            assert!(read.contains(kind), "{n}: {read}");
        }
    }
    // FHIR: an Observation per finding, valid to an independent validator.
    let (code, fhir) = server.get_bytes(&format!("/api/v1/exams/{id}/fhir"), &server.token);
    assert_eq!(code, 200);
    if let Some(errors) = cruciate_testkit::fhir_report_errors(&fhir) {
        assert!(errors.is_empty(), "{errors:#?}");
    }
    let report: Value = serde_json::from_slice(&fhir).unwrap();
    let observations = report["contained"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
        .count();
    assert_eq!(observations, 3, "{report}");

    // A study without its axial series: analysed on the planes present, and said.
    let partial = dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    for plane in ["sagittal", "coronal"] {
        let to = partial.join(plane);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(studies[1].join(plane)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    let zip = dir.path().join("no-axial.zip");
    zip_folder(&partial, &zip);
    let (code, body) = server.upload(&zip, "no-axial.zip", &server.token);
    assert_eq!(code, 202, "{body}");
    let item = wait_for_named(&server, "no-axial.zip");
    let id = item["id"].as_str().unwrap();
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let result = &exam["result"];
    assert_eq!(result["planes"].as_array().unwrap().len(), 2, "{result}");
    for name in ["abnormal", "acl", "meniscus"] {
        let f = finding(&result["findings"], name);
        assert!(f["call"]["probability"].as_f64().is_some(), "{f}");
        assert_eq!(
            f["call"]["planes_used"],
            serde_json::json!(["sagittal", "coronal"]),
            "{f}"
        );
        let axial = f["call"]["planes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plane"] == "axial")
            .unwrap();
        assert_eq!(axial["not_used"], "no axial series", "{f}");
    }
    let (code, _) = server.get_bytes(
        &format!("/api/v1/exams/{id}/slices/0.png?plane=axial"),
        &server.token,
    );
    assert_eq!(code, 404, "no axial series to show");
}

/// A PNG's width and height, from its header.
fn image_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[1..4], b"PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}
