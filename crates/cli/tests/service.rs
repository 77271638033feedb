//! `cruciate serve` from outside, as a hospital's client would see it: the first start (admin
//! token, analysed demo exams), uploads through the JSON API, tokens and roles, hostile input
//! (corrupt archives, every fuzz-found file, a deeply nested DICOM, oversized bodies) answered
//! with 4xx while the server stays up and small, the audit log, and a server killed with -9
//! whose job finishes, once, after a restart.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, phantom_dicom_zip, slow_analyser_config};

#[test]
fn the_service_serves_analyses_and_guards_its_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // The first start: four synthetic exams, analysed without anybody asking.
    let done = server.wait_for_done(4, Duration::from_secs(120));
    assert_eq!(done.len(), 4);
    for exam in &done {
        assert_eq!(exam["synthetic_model"], true, "{exam}");
        assert!(exam["injured_probability"].is_number());
    }
    let admin = server.token.clone();

    // No token, a wrong token: 401 with a JSON error.
    let (status, body) = server.get("/api/v1/exams", None);
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"));
    assert_eq!(server.get("/api/v1/exams", Some("crt_nope")).0, 401);

    // A clinician of another site sees none of these exams and no admin route.
    let (status, made) = server.post_json(
        "/api/v1/tokens",
        &admin,
        serde_json::json!({"name": "dr who", "role": "clinician", "site": "elsewhere"}),
    );
    assert_eq!(status, 201, "{made}");
    let clinician = made["secret"].as_str().unwrap().to_string();
    assert_eq!(server.get("/api/v1/exams", Some(&clinician)).1["total"], 0);
    let (status, body) = server.get("/api/v1/audit", Some(&clinician));
    assert_eq!(status, 403, "{body}");
    let (status, _) = server.get(
        &format!("/api/v1/exams/{}", done[0]["id"].as_str().unwrap()),
        Some(&clinician),
    );
    assert_eq!(status, 404, "another site's exam is not there for them");

    // A DICOM series in a zip, uploaded and analysed.
    let zip = phantom_dicom_zip(dir.path());
    let (status, accepted) = server.upload(&zip, "knee.zip", &clinician);
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["format"], "dicom");
    let id = accepted["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &clinician, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    let probabilities: Vec<f64> = exam["result"]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    // The demo is calibrated: a grade set, and temperature-scaled probabilities (its own
    // kept) where its calibration has a temperature.
    let calibration: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/demo/calibration.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        exam["result"]["uncalibrated_probabilities"]
            .as_array()
            .map(Vec::len),
        calibration.get("temperature").map(|_| 2),
        "{exam}"
    );
    assert_eq!(exam["result"]["grade_set"]["coverage"], 0.9, "{exam}");
    assert!(exam["result"]["grade_set_text"].is_string(), "{exam}");
    assert_eq!(
        exam["result"]["spacing_known"], true,
        "DICOM gives it: {exam}"
    );
    assert_eq!(exam["result"]["synthetic_model"], true);
    assert_eq!(exam["result"]["model_hash"].as_str().unwrap().len(), 64);
    assert!(
        exam["notices"][0]
            .as_str()
            .unwrap()
            .contains("Not for diagnostic use")
    );
    // Its pictures: a slice, its heat layer, and the exported figure.
    let key = exam["result"]["explanation"]["key_slice"].as_u64().unwrap();
    for (path, kind) in [
        (
            format!("/api/v1/exams/{id}/slices/{key}.png?window=500,1000"),
            "slice",
        ),
        (format!("/api/v1/exams/{id}/cam/{key}.png"), "heat"),
        (
            format!("/api/v1/exams/{id}/cam/{key}.png?burned=true"),
            "export",
        ),
    ] {
        let (status, bytes) = server.get_bytes(&path, &clinician);
        assert_eq!(status, 200, "{kind}");
        assert_eq!(&bytes[1..4], b"PNG", "{kind}");
    }
    assert_eq!(
        server
            .get_bytes(&format!("/api/v1/exams/{id}/slices/999.png"), &clinician)
            .0,
        404
    );
    // The radiologist's read.
    let (status, _) = server.post_json(
        &format!("/api/v1/exams/{id}/read"),
        &clinician,
        serde_json::json!({"grade": 2, "agrees": false}),
    );
    assert_eq!(status, 204);
    assert_eq!(
        server
            .get(&format!("/api/v1/exams/{id}"), Some(&clinician))
            .1["read"]["grade"],
        2
    );

    // Hostile input: a corrupt zip, every fuzz-found file, a DICOM nested 200 000 deep.
    let corrupt = dir.path().join("corrupt.zip");
    std::fs::write(&corrupt, &std::fs::read(&zip).unwrap()[..3000]).unwrap();
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../volume/tests/data/fuzz");
    let mut hostile: Vec<_> = std::fs::read_dir(&fuzz)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    hostile.push(corrupt);
    let deep = dir.path().join("deep.dcm");
    std::fs::write(&deep, cruciate_testkit::deeply_nested_dicom(200_000)).unwrap();
    hostile.push(deep);
    for file in &hostile {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (status, body) = server.upload(file, &name, &clinician);
        assert!((400..500).contains(&status), "{name}: {status} {body}");
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {body}"));
        assert!(
            !error.contains(&server.data.display().to_string()),
            "{name}: leaks a path: {error}"
        );
        let failed = server
            .get(
                &format!("/api/v1/exams/{}", body["id"].as_str().unwrap()),
                Some(&clinician),
            )
            .1;
        assert_eq!(failed["status"], "failed", "{name}");
    }
    assert_eq!(server.get("/healthz", None).0, 200, "the server is alive");
    let rss = server.rss_kib();
    assert!(rss < 1 << 20, "server RSS {rss} KiB");

    // Bodies past the limit: declared (refused before reading) and streamed without a length.
    assert_eq!(
        server.raw_post_status("/api/v1/exams", &admin, Some(600 << 20), b""),
        413
    );

    // Admin: the audit log holds every upload, view, export and read; deletion keeps it.
    let (status, _) = server.delete(&format!("/api/v1/exams/{id}"), &clinician);
    assert_eq!(status, 403, "clinicians do not delete");
    let (status, _) = server.delete(&format!("/api/v1/exams/{id}"), &admin);
    assert_eq!(status, 204);
    assert_eq!(
        server.get(&format!("/api/v1/exams/{id}"), Some(&admin)).0,
        404
    );
    assert!(
        !server.data.join("exams").join(&id).exists(),
        "its files are gone"
    );
    let audit = server.get("/api/v1/audit?limit=1000", Some(&admin)).1;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["exam_id"] == id.as_str())
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for action in ["upload", "view", "export", "read", "delete"] {
        assert!(
            actions.iter().any(|(a, _)| a == action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(
        actions
            .iter()
            .any(|(a, who)| a == "upload" && who == "dr who")
    );

    // Operations: readiness, metrics, the OpenAPI document, security headers.
    assert_eq!(server.get("/readyz", None).0, 200);
    let metrics = String::from_utf8(server.get_bytes("/metrics", "").1).unwrap();
    assert!(
        metrics.contains("cruciate_exams{status=\"done\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cruciate_job_latency_seconds_count 4"),
        "{metrics}"
    );
    let openapi = server.get("/api/v1/openapi.json", Some(&admin)).1;
    assert!(openapi["paths"]["/api/v1/exams"]["post"].is_object());
    let csp = server.header("/", "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let page = String::from_utf8(server.get_bytes("/", "").1).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the UI loads nothing from outside"
    );
}

#[test]
fn a_streamed_upload_past_the_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-upload-mib", "1"]);
    let status = server.raw_post_status("/api/v1/exams", &server.token, None, &vec![7u8; 3 << 20]);
    assert_eq!(status, 413);
    assert_eq!(server.get("/healthz", None).0, 200);
}

/// Waits until exam `id` is running.
fn wait_until_running(server: &Server, id: &str) {
    let started = Instant::now();
    loop {
        let exam = server
            .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
            .1;
        if exam["status"] == "running" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never started: {exam}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server under `dir` with the slow analyser, its settings file, and the id of an uploaded
/// exam whose analysis has started.
fn server_with_a_job_in_hand(dir: &Path) -> (Server, std::path::PathBuf, String) {
    let config = slow_analyser_config(dir);
    let server = Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()]);
    let zip = phantom_dicom_zip(dir);
    let (status, accepted) = server.upload(&zip, "knee.zip", &server.token.clone());
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    wait_until_running(&server, &id);
    (server, config, id)
}

#[test]
fn a_killed_server_finishes_its_job_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Once the analysis has started, kill the server outright.
    let (mut server, config, id) = server_with_a_job_in_hand(dir.path());
    let args = ["--config", config.to_str().unwrap()];
    server.kill();
    let server = Server::start(&data, &args);
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    assert_eq!(
        exam["attempts"], 2,
        "one interrupted attempt and one that finished"
    );
    let uploads = server
        .get("/api/v1/audit?limit=100", Some(&server.token))
        .1
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "upload")
        .count();
    assert_eq!(uploads, 1);
    assert!(
        server
            .data
            .join("exams")
            .join(&id)
            .join("result/result.json")
            .is_file()
    );
    let leftovers: Vec<_> = std::fs::read_dir(server.data.join("exams").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("attempt-"))
        .collect();
    assert!(leftovers.len() <= 1, "{leftovers:?}");
}

#[test]
fn a_terminated_server_finishes_the_job_in_hand_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, config, id) = server_with_a_job_in_hand(dir.path());
    let args = ["--config", config.to_str().unwrap()];
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM ends the server cleanly: {status}"
    );
    // The job finished during the shutdown: done at once after a restart, in one attempt.
    let server = Server::start(&data, &args);
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    assert_eq!(exam["status"], "done", "{exam}");
    assert_eq!(exam["attempts"], 1, "{exam}");
}

#[test]
fn radiologists_reads_become_a_training_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let exams = server.wait_for_done(4, Duration::from_secs(120));
    let token = server.token.clone();
    // One read agrees with the model, one gives another grade, the others stay unread.
    let agreed = exams[0]["id"].as_str().unwrap().to_string();
    // The demo model tells healthy from injured; agreeing with "injured" takes a grade.
    let result = server
        .get(&format!("/api/v1/exams/{agreed}"), Some(&token))
        .1["result"]
        .clone();
    let model_grade = match result["grade"].as_u64() {
        Some(g) => g,
        None if result["label"] == "healthy" => 0,
        None => 2,
    };
    let corrected = exams[1]["id"].as_str().unwrap().to_string();
    for (id, body) in [
        (
            &agreed,
            serde_json::json!({"grade": model_grade, "agrees": true}),
        ),
        (&corrected, serde_json::json!({"grade": 3, "agrees": false})),
    ] {
        let (status, answer) = server.post_json(&format!("/api/v1/exams/{id}/read"), &token, body);
        assert_eq!(status, 204, "{answer}");
    }
    // A read without a grade, or one past 3: a JSON error, nothing recorded.
    for body in [
        serde_json::json!({"agrees": false}),
        serde_json::json!({"grade": 7, "agrees": false}),
    ] {
        let (status, answer) = server.post_json(
            &format!("/api/v1/exams/{}/read", exams[2]["id"].as_str().unwrap()),
            &token,
            body,
        );
        assert!((400..500).contains(&status), "{status} {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    server.kill();

    let manifest = dir.path().join("reads/manifest.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(["export-reads", "--data", data.to_str().unwrap(), "--out"])
        .arg(&manifest)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let grade_of = |id: &str| {
        rows.iter()
            .find(|r| r[column("exam_id")] == id)
            .unwrap_or_else(|| panic!("{id} missing from {text}"))[column("label")]
        .to_string()
    };
    assert_eq!(grade_of(&agreed), model_grade.to_string());
    assert_eq!(grade_of(&corrected), "3");
    // Every listed file is an exam the readers open.
    for row in &rows {
        let inspected = std::process::Command::new(env!("CARGO_BIN_EXE_cruciate"))
            .args(["inspect", row[column("path")]])
            .env("CRUCIATE_LOG", "off")
            .output()
            .unwrap();
        assert!(
            inspected.status.success(),
            "{}",
            String::from_utf8_lossy(&inspected.stderr)
        );
    }
    // The export is audited.
    let server = Server::start(&data, &[]);
    let audit = server.get("/api/v1/audit?limit=100", Some(&server.token)).1;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["actor"] == "export-reads"),
        "{audit}"
    );
}

/// Analyses run where the service was told to: its compute flags (`--device`, `--engine`,
/// `--precision`) come before the arguments of every analysis it starts.
#[test]
fn analyses_get_the_services_compute_flags() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("analyser-calls");
    let recording = dir.path().join("recording-analyser");
    std::fs::write(
        &recording,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            calls.display(),
            env!("CARGO_BIN_EXE_cruciate")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&recording, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("serve.toml");
    let settings = format!("seed_exams = 0\nanalyser = \"{}\"\n", recording.display());
    std::fs::write(&config, settings).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--engine",
            "flex",
            "--precision",
            "f32",
        ],
    );
    let zip = phantom_dicom_zip(dir.path());
    let (status, accepted) = server.upload(&zip, "knee.zip", &server.token.clone());
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    let exam = server.wait_for_exam(id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(!calls.is_empty(), "no analyser was started");
    for call in calls.lines() {
        assert_eq!(call, "--device cpu --engine flex --precision f32 analyse");
    }
}

/// The processes whose parent is `pid` (a server's analysers).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "PID (COMM) STATE PPID ...": the name may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.extend(
                head.split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// An analyser killed from outside (as the kernel's out-of-memory killer would) while it
/// holds a job: the job is not the exam's fault, so it is queued again and ends done at its
/// second attempt, with no error left on it.
#[test]
fn an_analyser_killed_by_a_signal_is_retried_once_and_the_job_ends_done() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _config, id) = server_with_a_job_in_hand(dir.path());
    let analysers = children_of(server.pid());
    assert!(!analysers.is_empty(), "no analyser process");
    for pid in analysers {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    assert_eq!(exam["attempts"], 2, "{exam}");
    assert!(exam["error"].is_null(), "{exam}");
    assert!(exam["result"]["label"].is_string(), "{exam}");
}

/// The folders under DATA/exams, by name.
fn exam_folders(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("exams"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// An `.npy` of float32 voxels, `[slices, 64, 64]`, all `value`.
fn float_npy(path: &Path, slices: usize, value: f32) {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({slices}, 64, 64), }}");
    let pad = 64 - (10 + dict.len() + 1) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad % 64));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for _ in 0..slices * 64 * 64 {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// A refused upload, one whose client broke off mid-body and one refused as not numbers
/// leave nothing under the data folder (the refusals stay listed as failed); folders an
/// earlier process left behind (no exam names them) are swept at the next start, unless still
/// fresh (another process's upload in progress).
#[test]
fn refused_cut_off_and_orphaned_uploads_leave_nothing_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut server = Server::start(&data, &args);
    let token = server.token.clone();

    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, vec![0x5a; 300_000]).unwrap();
    let (status, refused) = server.upload(&junk, "junk.zip", &token);
    assert_eq!(status, 422, "{refused}");
    let nan = dir.path().join("nan.npy");
    float_npy(&nan, 20, f32::NAN);
    let (status, not_numbers) = server.upload(&nan, "nan.npy", &token);
    assert_eq!(status, 422, "{not_numbers}");
    assert!(
        not_numbers["error"]
            .as_str()
            .unwrap()
            .contains("not numbers"),
        "{not_numbers}"
    );
    assert!(
        not_numbers["error"]
            .as_str()
            .unwrap()
            .starts_with("nan.npy"),
        "named as the client knows it: {not_numbers}"
    );
    // A client that breaks off after 1 MiB of a declared 8 MiB.
    {
        use std::io::Write;
        let host = server.base.trim_start_matches("http://").to_string();
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        write!(
            s,
            "POST /api/v1/exams?filename=cut.zip HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            8 << 20
        )
        .unwrap();
        s.write_all(&vec![1u8; 1 << 20]).unwrap();
    }
    let failed = server.get("/api/v1/exams?status=failed", Some(&token)).1;
    assert_eq!(failed["total"], 2, "{failed}");
    let started = Instant::now();
    while !exam_folders(&data).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "left behind: {:?}",
            exam_folders(&data)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill();

    // What a crash mid-upload leaves: an old folder no exam names, and a fresh one.
    let stale = data.join("exams/0123456789abcdef01234567");
    let fresh = data.join("exams/fedcba9876543210fedcba98");
    for folder in [&stale, &fresh] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("upload.zip"), b"partial").unwrap();
    }
    let hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for path in [stale.join("upload.zip"), stale.clone()] {
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(hours_ago)
            .unwrap();
    }
    let _server = Server::start(&data, &args);
    assert_eq!(
        exam_folders(&data),
        ["fedcba9876543210fedcba98"],
        "the stale orphan is swept, the fresh folder kept"
    );
}

/// Requests a hostile client crafts get small limits and plain answers: a large JSON body is
/// 413 (only uploads are large), a page past the end is empty (not the first page again), the
/// bearer scheme is case-insensitive, the last admin token cannot be revoked, and a 65,400
/// character file name is kept short and makes an ordinary heat-map export.
#[test]
fn hostile_requests_meet_small_limits_and_plain_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let token = server.token.clone();
    let done = server.wait_for_done(1, Duration::from_secs(120));
    let id = done[0]["id"].as_str().unwrap();

    let rss_before = server.rss_kib();
    let big = format!(
        "{{\"grade\": 1, \"agrees\": false, \"pad\": \"{}\"}}",
        "x".repeat(8 << 20)
    );
    let status = server.raw_post_status(
        &format!("/api/v1/exams/{id}/read"),
        &token,
        None,
        big.as_bytes(),
    );
    assert_eq!(status, 413);
    assert!(
        server.rss_kib() < rss_before + 64 * 1024,
        "the body was not buffered"
    );

    let (status, page) = server.get("/api/v1/exams?page=9223372036854775807", Some(&token));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["exams"].as_array().unwrap().len(), 0, "{page}");
    assert!(page["total"].as_i64().unwrap() >= 1, "{page}");

    let me = common::agent()
        .get(&format!("{}/api/v1/me", server.base))
        .header("Authorization", &format!("bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);

    let (_, me) = server.get("/api/v1/me", Some(&token));
    let (status, answer) = server.delete(
        &format!("/api/v1/tokens/{}", me["id"].as_str().unwrap()),
        &token,
    );
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("last"),
        "{answer}"
    );
    assert_eq!(server.get("/api/v1/me", Some(&token)).0, 200, "still valid");

    let zip = phantom_dicom_zip(dir.path());
    let long = "a".repeat(65_400);
    let (status, accepted) = server.upload(&zip, &long, &token);
    assert_eq!(status, 202, "{accepted}");
    let long_id = accepted["id"].as_str().unwrap();
    let exam = server.wait_for_exam(long_id, &token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    assert!(
        exam["filename"].as_str().unwrap().chars().count() <= 120,
        "{exam}"
    );
    let (status, png) = server.get_bytes(
        &format!("/api/v1/exams/{long_id}/cam/10.png?burned=true"),
        &token,
    );
    assert_eq!(status, 200);
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert!(width < 1024, "a {width}-pixel-wide export");
}

/// Agreeing with a binary model's "injured" names no grade: the read must give one (an
/// injured one), and never records the healthy grade a form started on.
#[test]
fn agreeing_with_an_injured_binary_call_records_an_injured_grade() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let token = server.token.clone();
    let done = server.wait_for_done(4, Duration::from_secs(120));
    let injured = done
        .iter()
        .find(|e| e["call_label"] != "healthy")
        .unwrap_or_else(|| panic!("the demo model calls no seeded phantom injured: {done:?}"));
    let path = format!("/api/v1/exams/{}/read", injured["id"].as_str().unwrap());
    for body in [
        serde_json::json!({"agrees": true}),
        serde_json::json!({"grade": 0, "agrees": true}),
    ] {
        let (status, answer) = server.post_json(&path, &token, body);
        assert_eq!(status, 400, "{answer}");
    }
    let (status, answer) = server.post_json(
        &path,
        &token,
        serde_json::json!({"grade": 2, "agrees": true}),
    );
    assert_eq!(status, 204, "{answer}");
    let exam = server.get(path.trim_end_matches("/read"), Some(&token)).1;
    assert_eq!(exam["read"]["grade"], 2, "{exam}");
    assert_eq!(exam["read"]["agrees"], true, "{exam}");
}

/// Connections that send half a request head, or a body that stops, are closed by the server
/// (without a token); with every connection place taken by them, the next client is served
/// once they are gone.
#[test]
fn stalled_connections_are_closed_and_do_not_lock_clients_out() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "seed_exams = 0\nmax_connections = 4\nheader_timeout_seconds = 2\nbody_idle_timeout_seconds = 2\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let host = server.base.trim_start_matches("http://").to_string();
    let stalled: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&host).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s
        })
        .collect();
    // Every place is held by a stalled head: this request is served only once they are closed.
    assert_eq!(server.get("/healthz", None).0, 200);
    for mut s in stalled {
        let mut answer = Vec::new();
        let read = s.read_to_end(&mut answer);
        assert!(
            read.is_ok(),
            "a stalled head was not closed by the server: {read:?}"
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    // A body that stops sending ends with 408, and leaves no upload behind.
    let status =
        server.raw_post_status("/api/v1/exams?name=slow", &server.token, Some(1 << 20), b"");
    assert_eq!(status, 408);
    let (_, list) = server.get("/api/v1/exams", Some(&server.token));
    assert_eq!(list["total"], 0, "{list}");
    assert_eq!(server.get("/healthz", None).0, 200);
}

/// An exam is decoded once: the probe keeps the volume it read, the analysis reads that (it
/// succeeds with the upload gone), and the viewer's voxels are the same file, not a second copy.
#[test]
fn an_exam_is_decoded_once_and_its_voxels_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_analyser_config(dir.path());
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let zip = phantom_dicom_zip(dir.path());
    let (status, accepted) = server.upload(&zip, "knee.zip", &server.token.clone());
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    // The analysis starts 4 s after it is asked: the upload goes before it can be read again.
    let folder = server.data.join("exams").join(&id);
    std::fs::remove_dir_all(folder.join("upload")).unwrap();
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    assert!(exam["result"]["shape"][0].as_u64().unwrap() > 0, "{exam}");
    use std::os::unix::fs::MetadataExt as _;
    let decoded = std::fs::metadata(folder.join("decoded/volume.f32")).unwrap();
    let shown = std::fs::metadata(folder.join("result/volume.f32")).unwrap();
    assert_eq!(decoded.ino(), shown.ino(), "one file, linked");
    let (code, png) = server.get_bytes(&format!("/api/v1/exams/{id}/slices/0.png"), &server.token);
    assert_eq!(code, 200);
    assert_eq!(&png[1..4], b"PNG");
}

/// The phantom series with its headers saying axial (the orientation of a transverse series,
/// positions stepping foot to head), zipped in `dir`.
fn axial_dicom_zip(dir: &Path) -> std::path::PathBuf {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    common::edited_phantom_zip(dir, "axial.zip", |k, obj| {
        obj.put(DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::from("1\\0\\0\\0\\1\\0"),
        ));
        obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from(format!("0\\0\\{}", 3 * k)),
        ));
    })
}

/// An axial series uploaded is done but not analysed: no call in the worklist, the viewer's
/// API, the heat maps, the read or the SR (which says why), until an admin has the call shown,
/// which is audited and marks it outside the model's domain.
#[test]
fn an_axial_exam_is_not_analysed_and_an_admin_override_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let admin = server.token.clone();
    let zip = axial_dicom_zip(dir.path());
    let (status, up) = server.upload(&zip, "axial.zip", &admin);
    assert_eq!(status, 202, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &admin, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "neither failed nor graded: {exam}");
    let reasons = exam["not_analysed"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reasons.contains("axial plane (ImageOrientationPatient)"),
        "{exam}"
    );
    assert!(exam["result"].is_null(), "no call shown: {exam}");
    // Its slices are still there to see (without heat).
    assert_eq!(exam["volume"]["shape"][0], 20, "{exam}");
    let (status, _) = server.get_bytes(&format!("/api/v1/exams/{id}/slices/3.png"), &admin);
    assert_eq!(status, 200);
    assert!(exam["call_label"].is_null() && exam["injured_probability"].is_null());
    assert_eq!(exam["outside_domain"], false);
    let list = server.get("/api/v1/exams?per_page=100", Some(&admin)).1;
    let row = list["exams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the exam is in the worklist: {list}"));
    assert!(
        row["call_label"].is_null() && row["not_analysed"] == reasons.as_str(),
        "{row}"
    );
    let (status, body) = server.get(&format!("/api/v1/exams/{id}/cam/0.png"), Some(&admin));
    assert_eq!(status, 409, "{body}");
    let (status, body) = server.post_json(
        &format!("/api/v1/exams/{id}/read"),
        &admin,
        serde_json::json!({"grade": 0, "agrees": true}),
    );
    assert_eq!(status, 409, "{body}");
    let (status, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &admin);
    assert_eq!(status, 200);
    let finding = cruciate_dicom_results::read_finding(&sr).unwrap();
    assert_eq!(finding.code, "ACL-NOT-ANALYSED");
    assert_eq!(finding.injured_probability, None);
    assert!(finding.comment.contains(&reasons), "{}", finding.comment);
    // In FHIR too: an observation "not performed" with the reasons, no value, no probability.
    let fhir_observation = |token: &str| {
        let (status, body) = server.get_bytes(&format!("/api/v1/exams/{id}/fhir"), token);
        assert_eq!(status, 200);
        if let Some(errors) = cruciate_testkit::fhir_report_errors(&body) {
            assert!(errors.is_empty(), "{errors:#?}");
        }
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        report["contained"][0].clone()
    };
    let observation = fhir_observation(&admin);
    assert!(
        observation.get("valueCodeableConcept").is_none(),
        "{observation}"
    );
    assert!(observation.get("component").is_none(), "{observation}");
    assert_eq!(
        observation["dataAbsentReason"]["coding"][0]["code"],
        "not-performed"
    );
    assert!(
        observation["dataAbsentReason"]["text"]
            .as_str()
            .unwrap()
            .contains(&reasons),
        "{observation}"
    );

    // Only an admin has the call shown.
    let (status, made) = server.post_json(
        "/api/v1/tokens",
        &admin,
        serde_json::json!({"name": "dr who", "role": "clinician", "site": "default"}),
    );
    assert_eq!(status, 201, "{made}");
    let clinician = made["secret"].as_str().unwrap().to_string();
    let show = format!("/api/v1/exams/{id}/show-call");
    let (status, body) = server.post_json(&show, &clinician, serde_json::json!({}));
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.post_json(&show, &admin, serde_json::json!({}));
    assert_eq!(status, 204, "{body}");
    let exam = server.get(&format!("/api/v1/exams/{id}"), Some(&admin)).1;
    assert_eq!(exam["outside_domain"], true, "{exam}");
    assert!(exam["result"]["label"].is_string(), "{exam}");
    assert_eq!(exam["result"]["verdict"]["status"], "abstained", "{exam}");
    assert!(exam["call_label"].is_string(), "{exam}");
    let (_, sr) = server.get_bytes(&format!("/api/v1/exams/{id}/sr.dcm"), &admin);
    let finding = cruciate_dicom_results::read_finding(&sr).unwrap();
    assert!(
        ["ACL-HEALTHY", "444470001"].contains(&finding.code.as_str()),
        "{finding:?}"
    );
    let observation = fhir_observation(&admin);
    assert_eq!(
        observation["valueCodeableConcept"]["text"], exam["call_label"],
        "{observation}"
    );
    // The SR and the FHIR observation name the same disorder for a positive call.
    let snomed = observation["valueCodeableConcept"]["coding"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["system"] == "http://snomed.info/sct")
        .map(|c| c["code"].as_str().unwrap().to_string());
    let injured = finding.code == "444470001";
    assert_eq!(
        snomed.as_deref(),
        injured.then_some("444470001"),
        "{observation}"
    );
    assert!(
        observation["note"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Outside the model's domain"),
        "{observation}"
    );
    assert!(
        finding.comment.starts_with("Outside the model's domain"),
        "{}",
        finding.comment
    );
    let audit = server.get("/api/v1/audit?limit=1000", Some(&admin)).1;
    let shown: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "show-call" && r["exam_id"] == id.as_str())
        .collect();
    assert_eq!(shown.len(), 1, "{audit}");
    assert!(
        shown[0]["detail"].as_str().unwrap().contains("axial plane"),
        "{audit}"
    );
    let metrics = String::from_utf8(server.get_bytes("/metrics", &admin).1).unwrap();
    assert!(metrics.contains("\ncruciate_not_analysed 1\n"), "{metrics}");
    assert!(
        metrics.contains("\ncruciate_not_analysed_shown 1\n"),
        "{metrics}"
    );
}

/// A study of several series uploaded: the service's probe chooses the series with the served
/// model's gate (the PD fat-suppressed series the reader prefers holds one slice, so the T2
/// series is read), analyses it, and the result says why each other series was not read.
#[test]
fn the_gate_chooses_the_series_of_an_uploaded_study() {
    let dir = tempfile::tempdir().unwrap();
    let (study, [pd, t2]) = common::study_of_three_series(dir.path());
    let zip = dir.path().join("study.zip");
    common::zip_folder(&study, &zip);
    let server = Server::start(&dir.path().join("data"), &[]);
    let admin = server.token.clone();
    let (status, up) = server.upload(&zip, "study.zip", &admin);
    assert_eq!(status, 202, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &admin, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    assert!(exam["not_analysed"].is_null(), "analysed: {exam}");
    assert_eq!(
        exam["volume"]["shape"][0], 24,
        "the T2 series was read: {exam}"
    );
    let notes: Vec<&str> = exam["result"]["exam_notes"]
        .as_array()
        .unwrap_or_else(|| panic!("{exam}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let said = |part: &str| notes.iter().any(|n| n.contains(part));
    assert!(said("3 series found; read "), "{notes:?}");
    assert!(said("(SAG T2, sagittal, 24 slices)"), "{notes:?}");
    assert!(
        said("(SAG PD FS, sagittal, 1 slice) (1 slice; the model reads 8"),
        "{notes:?}"
    );
    assert!(
        said("(COR PD FS, coronal, 96 slices) (coronal plane)"),
        "{notes:?}"
    );
    // The upload was de-identified before it was read: its own UIDs appear nowhere.
    for uid in [&pd.series_uid, &t2.series_uid] {
        assert!(!notes.iter().any(|n| n.contains(uid.as_str())), "{notes:?}");
    }
}

/// One request a FHIR server received: its request line, headers (lower-case names) and body.
struct Received {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A FHIR server on loopback that answers 503 to its first request and 201 to the rest,
/// recording each: the post the service makes, and its retry.
fn fhir_receiver() -> (String, std::sync::mpsc::Receiver<Received>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                std::io::BufRead::read_line(&mut reader, &mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answer = if n == 0 {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\nConnection: close\r\n\r\ntry again\r\n"
            } else {
                "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            stream.write_all(answer.as_bytes()).unwrap();
            if tx
                .send(Received {
                    line: line.trim_end().to_string(),
                    headers,
                    body,
                })
                .is_err()
            {
                return;
            }
        }
    });
    (base, rx)
}

#[test]
fn an_analysed_exam_is_posted_to_the_fhir_server_and_retried_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (base, received) = fhir_receiver();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "seed_exams = 0\n[dicom]\nretry_seconds = 1\n[fhir]\nendpoint = \"{base}\"\ntoken = \"ehr-secret\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let zip = phantom_dicom_zip(dir.path());
    let (status, accepted) = server.upload(&zip, "knee.zip", &server.token.clone());
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    let wait = Duration::from_secs(60);
    let first = received.recv_timeout(wait).expect("the report is posted");
    let second = received
        .recv_timeout(wait)
        .expect("and posted again after a 503");
    for post in [&first, &second] {
        assert_eq!(post.line, "POST /fhir/DiagnosticReport HTTP/1.1");
        let header = |name: &str| {
            post.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("content-type"), Some("application/fhir+json"));
        assert_eq!(header("authorization"), Some("Bearer ehr-secret"));
        assert_eq!(
            header("if-none-exist"),
            Some(format!("identifier=urn:cruciate:exam|{id}").as_str())
        );
        if let Some(errors) = cruciate_testkit::fhir_report_errors(&post.body) {
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }
    assert_eq!(first.body, second.body, "the same report, posted again");
    let report: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(report["id"], id.as_str());
    assert_eq!(
        report["contained"][0]["valueCodeableConcept"]["text"],
        exam["call_label"]
    );
    // The send is recorded: sent at the second attempt, the failure in the audit log.
    let sends = server.wait_for_sent(&id, wait);
    let destination = format!("fhir:{base}");
    assert_eq!(
        sends["sends"][0]["destination"],
        destination.as_str(),
        "{sends}"
    );
    assert_eq!(sends["sends"][0]["attempts"], 2, "{sends}");
    assert_eq!(sends["destinations"][0], destination.as_str());
    let audit = server
        .get("/api/v1/audit?limit=1000", Some(&server.token))
        .1;
    let details: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "send" && r["exam_id"] == id.as_str())
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("answered 503: try again")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.starts_with("1 objects to")),
        "{details:?}"
    );
}
