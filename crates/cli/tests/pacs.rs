//! Cruciate as a DICOM node, against real DICOM software from Debian packages: dcmtk's
//! `storescu` / `echoscu` send to it, dicom3tools' `dciodvfy` and dcmtk's `dsrdump` check what
//! it gives back, and an Orthanc server sends it a study and receives the results in the same
//! study. Damaged instances pushed over the network are refused one by one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Orthanc, Server, free_port, orthanc_with_dicomweb, phantom_dicom_series, phantom_dicom_zip,
    slow_analyser_config,
};
use cruciate_dimse::command::SUCCESS;
use cruciate_dimse::scu::{self, Destination, Outgoing};
use cruciate_testkit::{dciodvfy_errors, system_tool};
use dicom_dictionary_std::{tags, uids};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

fn dicom_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files
}

fn text_of(path: &Path, tag: dicom_core::Tag) -> String {
    let obj = dicom_object::open_file(path).unwrap();
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// Waits for the exam that came from `calling_ae` to be analysed; its id.
fn wait_for_dicom_exam(server: &Server, calling_ae: &str) -> String {
    let started = Instant::now();
    loop {
        let list = server
            .get("/api/v1/exams?status=done", Some(&server.token))
            .1;
        let found = list["exams"].as_array().and_then(|all| {
            all.iter()
                .find(|e| {
                    e["filename"]
                        .as_str()
                        .is_some_and(|f| f.ends_with(&format!("from {calling_ae})")))
                })
                .map(|e| e["id"].as_str().unwrap().to_string())
        });
        if let Some(id) = found {
            return id;
        }
        let failed = server
            .get("/api/v1/exams?status=failed", Some(&server.token))
            .1;
        assert!(
            failed["exams"].as_array().is_none_or(|a| a.is_empty()),
            "an exam failed: {failed}"
        );
        assert!(
            started.elapsed() < LIMIT,
            "no exam from {calling_ae}: {list}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn storescu_sends_a_series_that_is_analysed_and_answered_with_valid_dicom_results() {
    let (Some(storescu), Some(echoscu), Some(_), Some(dsrdump)) = (
        system_tool("storescu"),
        system_tool("echoscu"),
        system_tool("dciodvfy"),
        system_tool("dsrdump"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let series = phantom_dicom_series(dir.path());
    let files = dicom_files(&series);
    // What `cruciate synth --format dicom` writes is a valid MR image.
    let errors = dciodvfy_errors(&files[0]).unwrap();
    assert!(errors.is_empty(), "synthetic MR: {errors:#?}");
    let original_patient = text_of(&files[0], tags::PATIENT_ID);
    let original_study = text_of(&files[0], tags::STUDY_INSTANCE_UID);

    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--dicom-port",
            "0",
            "--stable-after",
            "1",
            "--dicom-allow",
            "MODALITY",
        ],
    );
    let port = server.dicom_port.unwrap().to_string();
    let echo = Command::new(&echoscu)
        .args(["-aet", "MODALITY", "-aec", "CRUCIATE", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(
        echo.status.success(),
        "{}",
        String::from_utf8_lossy(&echo.stderr)
    );
    let intruder = Command::new(&echoscu)
        .args(["-aet", "INTRUDER", "-aec", "CRUCIATE", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(
        !intruder.status.success(),
        "a disallowed AE title was accepted"
    );

    let sent = Command::new(&storescu)
        .args(["-aet", "MODALITY", "-aec", "CRUCIATE", "127.0.0.1", &port])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let id = wait_for_dicom_exam(&server, "MODALITY");

    let (code, status) = server.get(&format!("/api/v1/exams/{id}/dicom"), Some(&server.token));
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["source"]["calling_ae"], "MODALITY");
    assert_eq!(status["source"]["series"][0]["instances"], files.len());
    assert_eq!(status["source"]["series"][0]["description"], "SAG PD FS");

    // Stored de-identified: no original patient id, new UIDs, the profile recorded.
    let stored = dicom_files(&server.data.join("exams").join(&id).join("upload"));
    assert_eq!(stored.len(), files.len());
    assert!(text_of(&stored[0], tags::PATIENT_ID).starts_with("ANON-"));
    assert_ne!(
        text_of(&stored[0], tags::STUDY_INSTANCE_UID),
        original_study
    );
    assert_eq!(text_of(&stored[0], tags::PATIENT_IDENTITY_REMOVED), "YES");
    // UIDs map consistently across the series: one new series, study and frame of reference.
    for tag in [
        tags::SERIES_INSTANCE_UID,
        tags::STUDY_INSTANCE_UID,
        tags::FRAME_OF_REFERENCE_UID,
    ] {
        let new: std::collections::BTreeSet<String> =
            stored.iter().map(|f| text_of(f, tag)).collect();
        assert_eq!(new.len(), 1, "{tag}: {new:?}");
        assert_ne!(new.first().unwrap(), &text_of(&files[0], tag));
    }

    // The results as DICOM, back in the original study.
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let (code, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(code, 200);
    let (code, sc) = server.get_bytes(&format!("/api/v1/exams/{id}/sc/1.dcm"), &server.token);
    assert_eq!(code, 200);
    let (missing, _) = server.get_bytes(&format!("/api/v1/exams/{id}/sc/9.dcm"), &server.token);
    assert_eq!(missing, 404);
    let sr_path = dir.path().join("sr.dcm");
    let sc_path = dir.path().join("sc1.dcm");
    std::fs::write(&sr_path, &sr).unwrap();
    std::fs::write(&sc_path, &sc).unwrap();
    for p in [&sr_path, &sc_path] {
        let errors = dciodvfy_errors(p).unwrap();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
    assert_eq!(text_of(&sr_path, tags::PATIENT_ID), original_patient);
    assert_eq!(text_of(&sr_path, tags::STUDY_INSTANCE_UID), original_study);
    assert_eq!(text_of(&sc_path, tags::STUDY_INSTANCE_UID), original_study);
    // The heat map as a fractional Segmentation over the original series: valid, read back by
    // highdicom, each frame derived from an instance that was sent.
    let (code, seg) = server.get_bytes(&format!("/api/v1/exams/{id}/seg/1.dcm"), &server.token);
    assert_eq!(code, 200);
    let seg_path = dir.path().join("seg1.dcm");
    std::fs::write(&seg_path, &seg).unwrap();
    let errors = dciodvfy_errors(&seg_path).unwrap();
    assert!(errors.is_empty(), "SEG: {errors:#?}");
    assert_eq!(text_of(&seg_path, tags::STUDY_INSTANCE_UID), original_study);
    assert_eq!(
        text_of(&seg_path, tags::FRAME_OF_REFERENCE_UID),
        text_of(&files[0], tags::FRAME_OF_REFERENCE_UID)
    );
    if let Some(read) = cruciate_testkit::segmentation_read_back(&seg_path) {
        let read: Value = serde_json::from_str(&read.unwrap()).unwrap();
        assert_eq!(read["type"], "FRACTIONAL", "{read}");
        let sent: Vec<String> = files
            .iter()
            .map(|f| text_of(f, tags::SOP_INSTANCE_UID))
            .collect();
        for source in read["sources"].as_array().unwrap() {
            assert_eq!(source[1], text_of(&files[0], tags::SERIES_INSTANCE_UID));
            assert!(sent.contains(&source[2].as_str().unwrap().to_string()));
        }
        assert!(read["max"].as_u64().unwrap() > 0, "{read}");
    }
    // And where it is at least one half, as a binary segmentation (for viewers that draw no
    // fractional one).
    let (code, seg) = server.get_bytes(&format!("/api/v1/exams/{id}/seg/2.dcm"), &server.token);
    assert_eq!(code, 200);
    let seg_path = dir.path().join("seg2.dcm");
    std::fs::write(&seg_path, &seg).unwrap();
    let errors = dciodvfy_errors(&seg_path).unwrap();
    assert!(errors.is_empty(), "SEG: {errors:#?}");
    if let Some(read) = cruciate_testkit::segmentation_read_back(&seg_path) {
        let read: Value = serde_json::from_str(&read.unwrap()).unwrap();
        assert_eq!(read["type"], "BINARY", "{read}");
        assert_eq!(read["max"], 1, "{read}");
    }
    let (missing, _) = server.get_bytes(&format!("/api/v1/exams/{id}/seg/3.dcm"), &server.token);
    assert_eq!(missing, 404, "no region from a model without a localiser");
    let dump = Command::new(&dsrdump).arg(&sr_path).output().unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout).to_string();
    let label = exam["call_label"].as_str().unwrap();
    let expected = if label == "healthy" {
        "ACL healthy"
    } else {
        "Injury of anterior cruciate ligament"
    };
    assert!(dump.contains(expected), "{label}: {dump}");
    let finding = cruciate_dicom_results::read_finding(&sr).unwrap();
    let p = exam["injured_probability"].as_f64().unwrap();
    assert!((finding.injured_probability.unwrap() - p).abs() < 1e-3);
    // The demo's grade set, as the viewer shows it.
    let set = exam["result"]["grade_set_text"].as_str().unwrap();
    assert_eq!(finding.grade_set.as_deref(), Some(set));
    assert!(set.contains("90 %"), "{set}");
    // The SR references the original instances of the key slices.
    assert!(dump.contains("MR image"), "{dump}");
    // The same result as FHIR R4 for the RIS: valid to an independent validator, about the
    // original patient and study, with the call, its probability and its grade set.
    let (code, fhir) = server.get_bytes(&format!("/api/v1/exams/{id}/fhir"), &server.token);
    assert_eq!(code, 200);
    if let Some(errors) = cruciate_testkit::fhir_report_errors(&fhir) {
        assert!(errors.is_empty(), "{errors:#?}");
    }
    let report: Value = serde_json::from_slice(&fhir).unwrap();
    assert_eq!(report["resourceType"], "DiagnosticReport");
    assert_eq!(report["subject"]["identifier"]["value"], original_patient);
    assert_eq!(
        report["imagingStudy"][0]["identifier"]["value"],
        format!("urn:oid:{original_study}")
    );
    let observation = &report["contained"][0];
    assert_eq!(observation["resourceType"], "Observation");
    assert_eq!(observation["valueCodeableConcept"]["text"], label);
    let fhir_p = observation["component"][0]["valueQuantity"]["value"]
        .as_f64()
        .unwrap();
    // The report gives probabilities to four decimals: within half a unit of the fourth.
    assert!((fhir_p - p).abs() <= 0.5e-4 + 1e-12, "{fhir_p} against {p}");
    assert_eq!(observation["component"][1]["valueString"], set);
    assert_eq!(report["contained"][1]["resourceType"], "Device");
    let fhir_text = String::from_utf8_lossy(&fhir);
    assert!(
        !fhir_text.contains("ANON-"),
        "no pseudonym leaves: {fhir_text}"
    );
    // The project's own reader takes the Secondary Capture.
    let inspected = Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(["inspect", sc_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    // No destination configured: nothing to send, and asking for it is refused.
    let (code, _) = server.post_json(
        &format!("/api/v1/exams/{id}/send"),
        &server.token,
        Value::Null,
    );
    assert_eq!(code, 409);
}

/// A server killed with SIGKILL while it makes a received study an exam (its files filed, its
/// probe under way, no exam recorded yet) loses none of the instances it acknowledged: after a
/// restart the study becomes one exam, with every instance.
#[test]
fn a_server_killed_while_assembling_a_study_loses_no_acknowledged_instance() {
    let Some(storescu) = system_tool("storescu") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dicom_files(&phantom_dicom_series(dir.path()));
    // Analysers get each job 4 s late: the probe of the assembled study is the window.
    let config = slow_analyser_config(dir.path());
    let data = dir.path().join("data");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--dicom-port",
        "0",
        "--stable-after",
        "1",
    ];
    let mut server = Server::start(&data, &args);
    let port = server.dicom_port.unwrap().to_string();
    let sent = Command::new(&storescu)
        .args(["-aet", "MODALITY", "-aec", "CRUCIATE", "127.0.0.1", &port])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // Every instance acknowledged; wait until they are filed into an exam's folder.
    let started = Instant::now();
    let filed = || {
        std::fs::read_dir(data.join("exams"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("upload").is_dir())
    };
    while !filed() {
        assert!(started.elapsed() < LIMIT, "the study was never filed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let listed = server.get("/api/v1/exams", Some(&server.token)).1;
    assert_eq!(
        listed["total"], 0,
        "killed before the exam is recorded: {listed}"
    );
    server.kill();

    let server = Server::start(&data, &args);
    let id = wait_for_dicom_exam(&server, "MODALITY");
    let (_, status) = server.get(&format!("/api/v1/exams/{id}/dicom"), Some(&server.token));
    assert_eq!(
        status["source"]["series"][0]["instances"],
        files.len(),
        "{status}"
    );
    let all = server.get("/api/v1/exams", Some(&server.token)).1;
    assert_eq!(all["total"], 1, "one study, one exam: {all}");
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A DICOM zip uploaded over HTTP is de-identified like a study the node receives: no file
/// under DATA (the database aside, which keeps the original identity) names the patient or
/// the original study, and its SR goes back with the whole original identity. The worklist
/// and the exam show that identity to the roles the site allows, and to nobody else.
#[test]
fn an_uploaded_dicom_exam_leaves_no_identity_under_data_and_its_sr_carries_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let zip = phantom_dicom_zip(dir.path());
    let first = dicom_files(&dir.path().join("dicom-phantom/exams/00000"))[0].clone();
    let name = text_of(&first, tags::PATIENT_NAME);
    let patient = text_of(&first, tags::PATIENT_ID);
    let study = text_of(&first, tags::STUDY_INSTANCE_UID);
    assert!(!name.is_empty() && !patient.is_empty());
    let data = dir.path().join("data");
    let config = dir.path().join("serve.toml");
    // At this site clinicians see whose knee it is; admins do not.
    std::fs::write(
        &config,
        "seed_exams = 0\n[identity]\nsites = { default = [\"clinician\"] }\n",
    )
    .unwrap();
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let (code, made) = server.post_json(
        "/api/v1/tokens",
        &server.token,
        serde_json::json!({"name": "dr reader", "role": "clinician", "site": "default"}),
    );
    assert_eq!(code, 201, "{made}");
    let clinician = made["secret"].as_str().unwrap().to_string();
    let (code, accepted) = server.upload(&zip, "knee.zip", &server.token);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let exam = server.wait_for_exam(id, &server.token, LIMIT);
    assert_eq!(exam["status"], "done", "{exam}");
    assert!(exam["patient"].is_null(), "{exam}");
    assert!(
        exam["series_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{exam}"
    );
    let seen = server
        .get(&format!("/api/v1/exams/{id}"), Some(&clinician))
        .1;
    assert_eq!(seen["patient"]["name"], name.as_str(), "{seen}");
    assert_eq!(seen["patient"]["id"], patient.as_str(), "{seen}");
    assert_eq!(
        seen["patient"]["accession_number"],
        text_of(&first, tags::ACCESSION_NUMBER).as_str()
    );
    assert_eq!(
        seen["patient"]["study_date"],
        text_of(&first, tags::STUDY_DATE).as_str()
    );
    let listed = server.get("/api/v1/exams", Some(&clinician)).1;
    assert_eq!(
        listed["exams"][0]["patient"]["name"],
        name.as_str(),
        "{listed}"
    );
    let listed = server.get("/api/v1/exams", Some(&server.token)).1;
    assert!(listed["exams"][0]["patient"].is_null(), "{listed}");
    for path in files_below(&data) {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("cruciate.db"))
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for secret in [&name, &patient, &study] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds {secret:?}",
                path.display()
            );
        }
    }
    let (code, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(code, 200);
    let sr_path = dir.path().join("sr.dcm");
    std::fs::write(&sr_path, &sr).unwrap();
    assert_eq!(text_of(&sr_path, tags::PATIENT_NAME), name);
    assert_eq!(text_of(&sr_path, tags::PATIENT_ID), patient);
    assert_eq!(text_of(&sr_path, tags::STUDY_INSTANCE_UID), study);
}

/// An MR instance of about `mib` MiB: a phantom slice's header with a square of pixels.
fn big_instance(header: &Path, mib: usize, uid: &str) -> dicom_object::InMemDicomObject {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let mut obj = dicom_object::open_file(header).unwrap().into_inner();
    let side = (((mib << 20) / 2) as f64).sqrt() as u16;
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(side),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(side),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid),
    ));
    let pixels = vec![100u16; side as usize * side as usize];
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    obj
}

/// Three 200 MiB instances sent at once: the node spools them and reads each in an analyser,
/// so the server process stays under 1 GiB at its peak (it took 4.5 GiB when it parsed them
/// itself), and it answers for each what it did (stored, or refused) and keeps serving.
#[test]
fn three_large_instances_at_once_keep_the_server_under_a_gibibyte() {
    let dir = tempfile::tempdir().unwrap();
    let header = dicom_files(&phantom_dicom_series(dir.path()))[0].clone();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--dicom-port",
            "0",
            "--stable-after",
            "60",
        ],
    );
    let to = Destination {
        ae_title: "CRUCIATE".into(),
        host: "127.0.0.1".into(),
        port: server.dicom_port.unwrap(),
    };
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let to = to.clone();
            let header = header.clone();
            std::thread::spawn(move || {
                let object = big_instance(&header, 200, &format!("1.2.826.0.1.3680043.9.7777.{i}"));
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime
                    .block_on(scu::store(
                        "MODALITY",
                        &to,
                        &[Outgoing::Object(Box::new(object))],
                        Duration::from_secs(300),
                    ))
                    .unwrap()[0]
                    .status
            })
        })
        .collect();
    let statuses: Vec<u16> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        peak_kib < 1 << 20,
        "the server's peak was {} MiB (statuses {statuses:04X?})",
        peak_kib >> 10
    );
    for s in &statuses {
        assert!(*s == SUCCESS || *s >= 0xA000, "{s:04X}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(scu::echo("MODALITY", &to, Duration::from_secs(10)))
        .unwrap();
}

#[test]
fn damaged_instances_are_refused_one_by_one_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let files = dicom_files(&phantom_dicom_series(dir.path()));
    let server = Server::start(
        &dir.path().join("data"),
        &["--dicom-port", "0", "--stable-after", "30"],
    );
    let to = Destination {
        ae_title: "CRUCIATE".into(),
        host: "127.0.0.1".into(),
        port: server.dicom_port.unwrap(),
    };
    let good = dicom_object::open_file(&files[0]).unwrap();
    let uid = good
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_string();
    let mut explicit = Vec::new();
    good.write_dataset_with_ts(
        &mut explicit,
        &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .unwrap();
    let raw = |bytes: Vec<u8>, ts: &str| Outgoing::Raw {
        sop_class_uid: uids::MR_IMAGE_STORAGE.into(),
        sop_instance_uid: uid.clone(),
        transfer_syntax: ts.into(),
        bytes,
    };
    let mut bad = vec![
        // Truncated: the pixel data cut short.
        raw(
            explicit[..explicit.len() - 5000].to_vec(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        ),
        // Explicit VR bytes declared as implicit VR.
        raw(explicit.clone(), uids::IMPLICIT_VR_LITTLE_ENDIAN),
    ];
    // The fuzz regressions of the readers, their data sets sent as MR images.
    let corpus = cruciate_testkit::workspace_root().join("crates/volume/tests/data/fuzz");
    let mut fuzz = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("dicom-")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let body = if bytes.get(128..132) == Some(b"DICM") {
            bytes[132..].to_vec()
        } else {
            bytes
        };
        bad.push(raw(body, uids::EXPLICIT_VR_LITTLE_ENDIAN));
        fuzz += 1;
    }
    assert!(fuzz >= 5, "the fuzz corpus is missing");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcomes = runtime
        .block_on(scu::store("MODALITY", &to, &bad, Duration::from_secs(30)))
        .unwrap();
    assert_eq!(outcomes.len(), bad.len());
    for (n, o) in outcomes.iter().enumerate() {
        assert!(
            !o.stored(),
            "damaged instance {n} was stored (status {:04X}H)",
            o.status
        );
        assert!(
            o.status >= 0xA000,
            "instance {n}: status {:04X}H is not a failure",
            o.status
        );
    }
    // The node still answers, and takes a good instance in the same way.
    runtime
        .block_on(scu::echo("MODALITY", &to, Duration::from_secs(10)))
        .unwrap();
    let fine = runtime
        .block_on(scu::store(
            "MODALITY",
            &to,
            &[Outgoing::Object(Box::new(good.into_inner()))],
            Duration::from_secs(30),
        ))
        .unwrap();
    assert_eq!(fine[0].status, SUCCESS);
    // Nothing damaged reached the incoming folder.
    let incoming: Vec<PathBuf> = std::fs::read_dir(server.data.join("incoming"))
        .unwrap()
        .flat_map(|d| dicom_files(&d.unwrap().path()))
        .collect();
    assert_eq!(incoming.len(), 1, "{incoming:?}");
}

#[test]
fn orthanc_sends_a_study_and_gets_the_sr_and_secondary_captures_back_in_it() {
    let Some(program) = system_tool("Orthanc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dicom_files(&phantom_dicom_series(dir.path()));
    // Cruciate first (its port goes into Orthanc's configuration), sending to Orthanc's DICOM
    // port, chosen before either starts.
    let orthanc_dir = dir.path().join("orthanc");
    std::fs::create_dir_all(&orthanc_dir).unwrap();
    let orthanc_port = free_port();
    let destination = format!("ORTHANC@127.0.0.1:{orthanc_port}");
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--dicom-port",
            "0",
            "--stable-after",
            "1",
            "--dicom-allow",
            "ORTHANC",
            "--dicom-destination",
            &destination,
        ],
    );
    let orthanc = Orthanc::start(
        &program,
        &orthanc_dir,
        orthanc_port,
        server.dicom_port.unwrap(),
    );
    let study = orthanc.store_files(&files);
    // Orthanc pushes the study to Cruciate by C-STORE.
    orthanc.post("/modalities/cruciate/store", study.clone().into_bytes());
    let id = wait_for_dicom_exam(&server, "ORTHANC");
    let sends = server.wait_for_sent(&id, LIMIT)["sends"].clone();
    assert_eq!(sends[0]["destination"], destination);
    // Orthanc lists the SR and the Secondary Captures in the same study as the MR series.
    let series = orthanc.get(&format!("/studies/{study}/series"));
    let modalities: Vec<String> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["MainDicomTags"]["Modality"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(modalities.contains(&"MR".to_string()), "{modalities:?}");
    assert!(modalities.contains(&"SR".to_string()), "{modalities:?}");
    assert!(modalities.contains(&"OT".to_string()), "{modalities:?}");
    assert_eq!(
        orthanc.get("/studies").as_array().unwrap().len(),
        1,
        "results landed in another study"
    );
    // Sending again is idempotent in the PACS: the same UIDs replace themselves.
    let (code, _) = server.post_json(
        &format!("/api/v1/exams/{id}/send"),
        &server.token,
        Value::Null,
    );
    assert_eq!(code, 202);
}

/// Keeps the SOP classes of what it is sent.
#[derive(Default)]
struct Received(std::sync::Mutex<Vec<String>>);

impl cruciate_dimse::InstanceSink for Received {
    fn store(&self, instance: cruciate_dimse::Received) -> Result<(), cruciate_dimse::Refusal> {
        self.0.lock().unwrap().push(instance.sop_class_uid);
        Ok(())
    }
}

#[test]
fn an_uploaded_exam_is_sent_to_a_destination_on_request_without_a_dicom_port() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sink = std::sync::Arc::new(Received::default());
    let config = cruciate_dimse::ScpConfig {
        ae_title: "ARCHIVE".into(),
        storage_classes: vec![
            uids::COMPREHENSIVE_SR_STORAGE.into(),
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into(),
        ],
        ..cruciate_dimse::ScpConfig::default()
    };
    let scp = runtime
        .block_on(cruciate_dimse::StorageScp::bind(
            "127.0.0.1:0",
            config,
            sink.clone(),
        ))
        .unwrap();
    let port = scp.local_addr().unwrap().port();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    runtime.spawn(scp.run(rx));
    let destination = format!("ARCHIVE@127.0.0.1:{port}");
    let server = Server::start(
        &dir.path().join("data"),
        &["--dicom-destination", &destination],
    );
    assert!(server.dicom_port.is_none());
    let zip = common::phantom_dicom_zip(dir.path());
    let (code, accepted) = server.upload(&zip, "knee.zip", &server.token);
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    server.wait_for_exam(id, &server.token, LIMIT);
    let (code, status) = server.get(&format!("/api/v1/exams/{id}/dicom"), Some(&server.token));
    assert_eq!(code, 200);
    assert!(
        status["sends"].as_array().unwrap().is_empty(),
        "uploads are sent on request only"
    );
    assert_eq!(status["destinations"][0], destination);
    let (code, _) = server.post_json(
        &format!("/api/v1/exams/{id}/send"),
        &server.token,
        Value::Null,
    );
    assert_eq!(code, 202);
    server.wait_for_sent(id, LIMIT);
    let got = sink.0.lock().unwrap().clone();
    assert_eq!(
        got.iter()
            .filter(|c| *c == uids::COMPREHENSIVE_SR_STORAGE)
            .count(),
        1,
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|c| c == uids::SECONDARY_CAPTURE_IMAGE_STORAGE),
        "{got:?}"
    );
}

/// A `multipart/related` body of `parts` (content type, bytes) on `boundary`.
fn multipart(parts: &[(&str, Vec<u8>)], boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, bytes) in parts {
        body.extend(format!("--{boundary}\r\nContent-Type: {kind}\r\n\r\n").as_bytes());
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn a_study_stored_by_stow_rs_is_deidentified_analysed_and_answered_in_dicom_json() {
    let dir = tempfile::tempdir().unwrap();
    let series = phantom_dicom_series(dir.path());
    let files = dicom_files(&series);
    let original_patient = text_of(&files[0], tags::PATIENT_ID);
    let original_study = text_of(&files[0], tags::STUDY_INSTANCE_UID);
    let server = Server::start(&dir.path().join("data"), &[]);
    let boundary = "cruciate-stow-boundary";
    let kind = format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let mut parts: Vec<(&str, Vec<u8>)> = files
        .iter()
        .map(|f| ("application/dicom", std::fs::read(f).unwrap()))
        .collect();
    parts.push(("text/plain", b"not an instance".to_vec()));
    let (status, headers, body) = server.post_bytes(
        "/dicomweb/studies",
        &server.token,
        &kind,
        &multipart(&parts, boundary),
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 202, "one part was not DICOM: {answer}");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/dicom+json");
    let stored = answer["00081199"]["Value"].as_array().unwrap();
    assert_eq!(stored.len(), files.len(), "{answer}");
    let sent: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| text_of(f, tags::SOP_INSTANCE_UID))
        .collect();
    let listed: std::collections::BTreeSet<String> = stored
        .iter()
        .map(|i| i["00081155"]["Value"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, sent, "the instances as sent");
    assert_eq!(
        answer["00081198"]["Value"][0]["00081197"]["Value"][0],
        0xC000
    );
    let id = header("x-cruciate-exam");
    let exam = server.wait_for_exam(&id, &server.token, LIMIT);
    assert_eq!(exam["status"], "done", "{exam}");
    // Stored de-identified, as every input; the results go back to the original study.
    let kept = dicom_files(&server.data.join("exams").join(&id).join("upload"));
    assert_eq!(kept.len(), files.len());
    assert!(text_of(&kept[0], tags::PATIENT_ID).starts_with("ANON-"));
    let (code, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(code, 200);
    let sr_path = dir.path().join("stow-sr.dcm");
    std::fs::write(&sr_path, &sr).unwrap();
    assert_eq!(text_of(&sr_path, tags::PATIENT_ID), original_patient);
    assert_eq!(text_of(&sr_path, tags::STUDY_INSTANCE_UID), original_study);

    // Cruciate's own QIDO-RS and WADO-RS show the study as kept: de-identified.
    let stored_study = text_of(&kept[0], tags::STUDY_INSTANCE_UID);
    let (code, studies) = server.get("/dicomweb/studies", Some(&server.token));
    assert_eq!(code, 200, "{studies}");
    let study = studies
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["0020000D"]["Value"][0] == stored_study.as_str())
        .unwrap_or_else(|| panic!("{studies}"));
    let pseudonym = study["00100020"]["Value"][0].as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("ANON-"));
    // Matched as QIDO-RS asks: wildcards, a modality (date ranges in the unit tests: the
    // phantom has no study date); unknown keys said.
    let count = |query: &str| {
        let (code, found) = server.get(&format!("/dicomweb/studies?{query}"), Some(&server.token));
        assert_eq!(code, 200, "{query}: {found}");
        found
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["0020000D"]["Value"][0] == stored_study.as_str())
            .count()
    };
    assert_eq!(count(&format!("PatientID={}*", &pseudonym[..7])), 1);
    assert_eq!(count("PatientID=NOBODY*"), 0);
    assert_eq!(count("ModalitiesInStudy=MR"), 1);
    assert_eq!(count("ModalitiesInStudy=CT"), 0);
    let response = common::agent()
        .get(&server.url("/dicomweb/studies?Bogus=1"))
        .header("Authorization", &format!("Bearer {}", server.token))
        .call()
        .unwrap();
    let warning = response
        .headers()
        .get("warning")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(warning.contains("not matched on: Bogus"), "{warning:?}");
    // The study's results are in it too: the SR, the heat map's SEG, the key slices' SCs.
    let modalities = study["00080061"]["Value"].as_array().unwrap();
    for m in ["MR", "SR", "SEG", "OT"] {
        assert!(modalities.iter().any(|v| v == m), "{m} in {study}");
    }
    let held = study["00201208"]["Value"][0].as_u64().unwrap() as usize;
    assert!(held >= files.len() + 3, "{study}");
    let (code, series) = server.get(
        &format!("/dicomweb/studies/{stored_study}/series"),
        Some(&server.token),
    );
    assert_eq!(code, 200);
    let series_uid = series[0]["0020000E"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (_, instances) = server.get(
        &format!("/dicomweb/studies/{stored_study}/series/{series_uid}/instances"),
        Some(&server.token),
    );
    assert_eq!(instances.as_array().unwrap().len(), files.len());
    let (_, metadata) = server.get(
        &format!("/dicomweb/studies/{stored_study}/metadata"),
        Some(&server.token),
    );
    let metadata = metadata.as_array().unwrap();
    assert_eq!(metadata.len(), held);
    let images = metadata
        .iter()
        .filter(|m| m["00080060"]["Value"][0] == "MR")
        .count();
    assert_eq!(images, files.len());
    // The held study's results reference its own (de-identified) instances, not the
    // hospital's: the SR's evidence names the held series.
    let seg = metadata
        .iter()
        .find(|m| m["00080060"]["Value"][0] == "SEG")
        .unwrap();
    assert_eq!(
        seg["00081115"]["Value"][0]["0020000E"]["Value"][0],
        series_uid.as_str(),
        "{seg}"
    );
    assert!(
        metadata.iter().all(|m| m.get("7FE00010").is_none()),
        "no pixel data"
    );
    assert!(
        metadata.iter().all(|m| m.get("00020010").is_none()),
        "no file meta information"
    );
    assert!(metadata.iter().all(|m| m.get("00080018").is_some()));
    let (code, retrieved) =
        server.get_bytes(&format!("/dicomweb/studies/{stored_study}"), &server.token);
    assert_eq!(code, 200);
    let parts = retrieved
        .windows(b"Content-Type: application/dicom".len())
        .filter(|w| *w == b"Content-Type: application/dicom")
        .count();
    assert_eq!(parts, held);
    let first_instance = instances[0]["00080018"]["Value"][0].as_str().unwrap();
    let (code, png) = server.get_bytes(
        &format!(
            "/dicomweb/studies/{stored_study}/series/{series_uid}/instances/{first_instance}/rendered"
        ),
        &server.token,
    );
    assert_eq!(code, 200);
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    // PNG's IHDR: width and height, big-endian, at bytes 16..24 (the phantom's 128 x 128).
    assert_eq!(&png[16..24], &[0, 0, 0, 128, 0, 0, 0, 128]);
    let (code, _) = server.get("/dicomweb/studies/1.2.3/series", Some(&server.token));
    assert_eq!(code, 404);
    // Series and instances matched on their own keys, paged.
    let listed = |path: &str| -> usize {
        let (code, found) = server.get(path, Some(&server.token));
        assert_eq!(code, 200, "{path}: {found}");
        found.as_array().unwrap().len()
    };
    let series_path = format!("/dicomweb/studies/{stored_study}/series");
    assert_eq!(listed(&format!("{series_path}?Modality=MR")), 1);
    // The heat map and its attention region.
    assert_eq!(listed(&format!("{series_path}?Modality=SEG")), 2);
    assert_eq!(listed(&format!("{series_path}?Modality=CT")), 0);
    assert_eq!(
        listed(&format!("{series_path}?SeriesInstanceUID={series_uid}")),
        1
    );
    assert_eq!(listed(&format!("{series_path}?SeriesDescription=SAG*")), 1);
    let instances_path = format!("{series_path}/{series_uid}/instances");
    assert_eq!(
        listed(&format!("{instances_path}?SOPInstanceUID={first_instance}")),
        1
    );
    assert_eq!(listed(&format!("{instances_path}?limit=2")), 2);
    assert_eq!(listed(&format!("{instances_path}?InstanceNumber=99999")), 0);
    // Metadata of a series and of one instance.
    let (code, series_metadata) = server.get(
        &format!("{series_path}/{series_uid}/metadata"),
        Some(&server.token),
    );
    assert_eq!(code, 200);
    assert_eq!(series_metadata.as_array().unwrap().len(), files.len());
    let (code, one) = server.get(
        &format!("{instances_path}/{first_instance}/metadata"),
        Some(&server.token),
    );
    assert_eq!(code, 200);
    assert_eq!(one[0]["00080018"]["Value"][0], first_instance);
    // Frames: the instance's own pixel bytes, uncompressed.
    let frames = format!("{instances_path}/{first_instance}/frames");
    let (code, body) = server.get_bytes(&format!("{frames}/1"), &server.token);
    assert_eq!(code, 200);
    let (_, whole) = server.get_bytes(&format!("{instances_path}/{first_instance}"), &server.token);
    let at = whole.windows(4).position(|w| w == b"DICM").unwrap() - 128;
    let end = whole[at..]
        .windows(4)
        .rposition(|w| w == b"\r\n--")
        .unwrap()
        + at;
    let obj = dicom_object::from_reader(&whole[at + 128..end]).unwrap();
    let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert!(
        body.windows(pixels.len()).any(|w| w == &pixels[..]),
        "frame 1 holds the instance's {} pixel bytes",
        pixels.len()
    );
    assert!(
        String::from_utf8_lossy(&body[..200]).contains("Content-Type: application/octet-stream"),
        "a frame's part is octet-stream"
    );
    let (code, _) = server.get(&format!("{frames}/2"), Some(&server.token));
    assert_eq!(code, 404, "a single-frame instance has no frame 2");
    let (code, _) = server.get(&format!("{frames}/0,x"), Some(&server.token));
    assert_eq!(code, 400);

    // Refused in DICOMweb's terms: another media type (415), nothing DICOM (409), two studies
    // in one request (409, every instance failed, the reason in the Warning header).
    let (status, _, body) =
        server.post_bytes("/dicomweb/studies", &server.token, "application/zip", b"PK");
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let text_only = multipart(&[("text/plain", b"x".to_vec())], boundary);
    let (status, headers, _) =
        server.post_bytes("/dicomweb/studies", &server.token, &kind, &text_only);
    assert_eq!(status, 409);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "warning" && v.contains("no DICOM instance"))
    );
    let mut moved = dicom_object::open_file(&files[1]).unwrap();
    moved.put(dicom_core::DataElement::new(
        tags::STUDY_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from("1.2.826.0.1.3680043.10.1"),
    ));
    let moved_path = dir.path().join("moved.dcm");
    moved.write_to_file(&moved_path).unwrap();
    let two: Vec<(&str, Vec<u8>)> = [&files[0], &moved_path]
        .iter()
        .map(|f| ("application/dicom", std::fs::read(f).unwrap()))
        .collect();
    let (status, headers, body) = server.post_bytes(
        "/dicomweb/studies",
        &server.token,
        &kind,
        &multipart(&two, boundary),
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["00081198"]["Value"].as_array().unwrap().len(), 2);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "warning" && v.contains("one study per request"))
    );
    let (status, _, _) = server.post_bytes("/dicomweb/studies", "not-a-token", &kind, &text_only);
    assert_eq!(status, 401);
}

#[test]
fn orthanc_stores_a_study_in_cruciate_by_stow_rs() {
    let Some(program) = orthanc_with_dicomweb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dicom_files(&phantom_dicom_series(dir.path()));
    let original_study = text_of(&files[0], tags::STUDY_INSTANCE_UID);
    let server = Server::start(&dir.path().join("data"), &[]);
    let orthanc_dir = dir.path().join("orthanc");
    std::fs::create_dir_all(&orthanc_dir).unwrap();
    let cruciate = serde_json::json!({ "cruciate": {
        "Url": format!("{}/dicomweb/", server.base),
        "HttpHeaders": { "Authorization": format!("Bearer {}", server.token) }
    }});
    let orthanc = Orthanc::with_dicomweb(&program, &orthanc_dir, cruciate);
    let study = orthanc.store_files(&files);
    // Orthanc's DICOMweb client stores the study in Cruciate by STOW-RS.
    let body = serde_json::json!({ "Resources": [study] }).to_string();
    orthanc.post("/dicom-web/servers/cruciate/stow", body.into_bytes());
    let started = Instant::now();
    let exam = loop {
        let list = server
            .get("/api/v1/exams?per_page=100", Some(&server.token))
            .1;
        let found = list["exams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["filename"] == "STOW-RS" && e["status"] == "done")
            .cloned();
        if let Some(e) = found {
            break e;
        }
        assert!(
            started.elapsed() < LIMIT,
            "no STOW-RS exam analysed: {list}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let id = exam["id"].as_str().unwrap();
    let kept = dicom_files(&server.data.join("exams").join(id).join("upload"));
    assert_eq!(kept.len(), files.len(), "every instance Orthanc held");
    // And back the other way: Orthanc's DICOMweb client finds the study as Cruciate keeps it
    // (QIDO-RS) and retrieves it (WADO-RS), de-identified.
    let stored_study = text_of(&kept[0], tags::STUDY_INSTANCE_UID);
    let qido = orthanc.post(
        "/dicom-web/servers/cruciate/qido",
        serde_json::json!({ "Uri": "/studies" })
            .to_string()
            .into_bytes(),
    );
    assert!(qido.to_string().contains(&stored_study), "{qido}");
    orthanc.post(
        "/dicom-web/servers/cruciate/retrieve",
        serde_json::json!({ "Resources": [{ "Study": stored_study }] })
            .to_string()
            .into_bytes(),
    );
    let studies = orthanc.get("/studies");
    assert_eq!(
        studies.as_array().unwrap().len(),
        2,
        "the original and Cruciate's copy"
    );
    let copy = studies
        .as_array()
        .unwrap()
        .iter()
        .map(|s| orthanc.get(&format!("/studies/{}", s.as_str().unwrap())))
        .find(|s| s["MainDicomTags"]["StudyInstanceUID"] == stored_study.as_str())
        .expect("the retrieved study");
    assert!(
        copy["PatientMainDicomTags"]["PatientID"]
            .as_str()
            .unwrap()
            .starts_with("ANON-"),
        "{copy}"
    );
    let (code, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &server.token);
    assert_eq!(code, 200);
    let sr_path = dir.path().join("sr.dcm");
    std::fs::write(&sr_path, &sr).unwrap();
    assert_eq!(text_of(&sr_path, tags::STUDY_INSTANCE_UID), original_study);
}

#[test]
fn a_study_found_on_a_dicomweb_pacs_is_retrieved_analysed_and_its_results_stored_back() {
    let Some(program) = orthanc_with_dicomweb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dicom_files(&phantom_dicom_series(dir.path()));
    let original_study = text_of(&files[0], tags::STUDY_INSTANCE_UID);
    let patient = text_of(&files[0], tags::PATIENT_ID);
    let orthanc_dir = dir.path().join("orthanc");
    std::fs::create_dir_all(&orthanc_dir).unwrap();
    let orthanc = Orthanc::with_dicomweb(&program, &orthanc_dir, serde_json::json!({}));
    let study = orthanc.store_files(&files);
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "seed_exams = 0\n[dicom]\nretry_seconds = 1\n[dicomweb]\npacs = \"{}/dicom-web\"\n",
            orthanc.http
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );

    // Found on the PACS (QIDO-RS) by patient.
    let (code, found) = server.get(
        &format!("/api/v1/pacs/studies?PatientID={patient}"),
        Some(&server.token),
    );
    assert_eq!(code, 200, "{found}");
    let studies = found.as_array().unwrap();
    assert_eq!(studies.len(), 1, "{found}");
    assert_eq!(studies[0]["study_uid"], original_study.as_str());
    assert_eq!(studies[0]["patient_id"], patient.as_str());
    let (code, none) = server.get(
        "/api/v1/pacs/studies?PatientID=NOBODY-HERE",
        Some(&server.token),
    );
    assert_eq!(code, 200);
    assert!(none.as_array().unwrap().is_empty(), "{none}");

    // Retrieved (WADO-RS), analysed, stored de-identified.
    let (code, accepted) = server.post_json(
        &format!("/api/v1/pacs/studies/{original_study}/analyse"),
        &server.token,
        Value::Null,
    );
    assert_eq!(code, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let exam = server.wait_for_exam(id, &server.token, LIMIT);
    assert_eq!(exam["status"], "done", "{exam}");
    let kept = dicom_files(&server.data.join("exams").join(id).join("upload"));
    assert_eq!(kept.len(), files.len());
    assert!(text_of(&kept[0], tags::PATIENT_ID).starts_with("ANON-"));

    // The results go back to the PACS by STOW-RS, into the same study.
    let sends = server.wait_for_sent(id, LIMIT);
    assert_eq!(
        sends["sends"][0]["destination"],
        format!("dicomweb:{}/dicom-web", orthanc.http)
    );
    let series = orthanc.get(&format!("/studies/{study}/series"));
    let modalities: Vec<&str> = series
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["MainDicomTags"]["Modality"].as_str())
        .collect();
    assert!(
        modalities.contains(&"SR") && modalities.contains(&"OT"),
        "{modalities:?}"
    );
    assert_eq!(orthanc.get("/studies").as_array().unwrap().len(), 1);

    // Refused in words: a key QIDO does not take, a UID that is not one, an unknown study.
    let (code, body) = server.get("/api/v1/pacs/studies?Bogus=1", Some(&server.token));
    assert_eq!(code, 400, "{body}");
    let (code, body) = server.post_json(
        "/api/v1/pacs/studies/1..2/analyse",
        &server.token,
        Value::Null,
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = server.post_json(
        "/api/v1/pacs/studies/1.2.3.4.5/analyse",
        &server.token,
        Value::Null,
    );
    assert!(code == 404 || code == 502, "{code} {body}");
}
