//! Drift from the outside: one site sends 30 phantoms like the demo model's own, then 30 made
//! with another gain and heavier noise. The alert fires on the second batch, not on the first,
//! and not for another site sending ordinary phantoms; it is audited and shown in
//! `GET /api/v1/drift` and `/metrics`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Server, cruciate, npy, succeeded};
use cruciate_volume::{ReadOptions, read_path};

/// Phantoms like the demo's training exams (256x256), from `seed`.
fn phantoms(dir: &Path, n: usize, seed: u32) -> Vec<PathBuf> {
    let out = dir.join(format!("ph{seed}"));
    succeeded(&cruciate(&[
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--exams",
        &n.to_string(),
        "--size",
        "256",
        "--seed",
        &seed.to_string(),
    ]));
    (0..n)
        .map(|i| out.join(format!("exams/sagittal/{i:05}.npy")))
        .collect()
}

/// `exam` with its intensities times `gain` plus uniform noise of `noise` times its median.
fn shifted(exam: &Path, gain: f32, noise: f32, seed: u64, out: &Path) -> PathBuf {
    let volume = read_path(exam, &ReadOptions::default()).unwrap();
    let mut sorted = volume.data.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2].max(1.0);
    let jitter = cruciate_testkit::noise(volume.data.len(), seed);
    let data: Vec<f32> = volume
        .data
        .iter()
        .zip(jitter)
        .map(|(v, j)| gain * v + noise * median * (j / (1u32 << 24) as f32 - 0.5))
        .collect();
    npy(out, volume.shape, &data);
    out.to_path_buf()
}

/// Uploads every exam with `token` and waits until each is done.
fn send(server: &Server, exams: &[PathBuf], token: &str) {
    let ids: Vec<String> = exams
        .iter()
        .map(|e| {
            let (status, body) = server.upload(e, "knee.npy", token);
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_string()
        })
        .collect();
    for id in ids {
        let exam = server.wait_for_exam(&id, token, Duration::from_secs(120));
        assert_eq!(exam["status"], "done", "{exam}");
    }
}

fn token(server: &Server, site: &str) -> String {
    let (status, made) = server.post_json(
        "/api/v1/tokens",
        &server.token,
        serde_json::json!({"name": format!("pacs {site}"), "role": "clinician", "site": site}),
    );
    assert_eq!(status, 201, "{made}");
    made["secret"].as_str().unwrap().to_string()
}

/// The stream of `site` in `GET /api/v1/drift`.
fn stream(server: &Server, site: &str) -> serde_json::Value {
    let (status, view) = server.get("/api/v1/drift", Some(&server.token));
    assert_eq!(status, 200, "{view}");
    view["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == site)
        .cloned()
        .unwrap_or_else(|| panic!("no stream of site {site}: {view}"))
}

#[test]
fn a_site_whose_exams_change_raises_a_drift_alert_and_no_other_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let (a, b) = (token(&server, "north"), token(&server, "south"));

    // A clinician may not see it.
    let (status, _) = server.get("/api/v1/drift", Some(&a));
    assert_eq!(status, 403);

    let normal = phantoms(dir.path(), 50, 71);
    send(&server, &normal[..30], &a);
    let north = stream(&server, "north");
    assert_eq!(north["check"]["exams"], 30, "{north}");
    assert!(
        !north["check"]["signals"].as_array().unwrap().is_empty(),
        "{north}"
    );
    assert_eq!(north["alert"], false, "like the validation exams: {north}");

    let shifted_dir = dir.path().join("shifted");
    std::fs::create_dir_all(&shifted_dir).unwrap();
    let changed: Vec<PathBuf> = phantoms(dir.path(), 30, 72)
        .iter()
        .enumerate()
        .map(|(i, e)| shifted(e, 3.0, 0.6, i as u64, &shifted_dir.join(format!("{i}.npy"))))
        .collect();
    send(&server, &changed, &a);
    send(&server, &normal[30..], &b);

    let north = stream(&server, "north");
    assert_eq!(north["alert"], true, "{north}");
    let drifting: Vec<&str> = north["check"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["drifting"] == true)
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert!(drifting.contains(&"intensity_median"), "{north}");
    let south = stream(&server, "south");
    assert_eq!(south["alert"], false, "{south}");
    assert_eq!(south["check"]["exams"], 20, "{south}");

    let audit = server
        .get("/api/v1/audit?limit=1000", Some(&server.token))
        .1;
    let alerts: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "drift-alert")
        .collect();
    assert_eq!(alerts.len(), 1, "one alert, for north: {audit}");
    assert!(alerts[0]["detail"].as_str().unwrap().contains("site north"));

    let metrics = String::from_utf8(server.get_bytes("/metrics", "").1).unwrap();
    assert!(
        metrics
            .contains("cruciate_drift_alert{model=\"demo\",site=\"north\",scanner=\"unknown\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("cruciate_drift_alert{model=\"demo\",site=\"south\",scanner=\"unknown\"} 0"),
        "{metrics}"
    );
}
