//! `cruciate evaluate` end to end: report.json holds the study's figures and the CAM-in-ROI
//! figures per class; report.html opens in headless Chromium (Debian's `chromium`, installed by
//! .ci/run) with every image decoded, nothing fetched, and a screenshot that is not blank.

use std::path::Path;
use std::process::{Command, Output};

fn cruciate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn chromium(args: &[&str]) -> Output {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed: apt-get install chromium (.ci/run does)");
    Command::new(found)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn trained_run(dir: &Path) -> (String, String) {
    let data = dir.join("data");
    ok(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "40",
        "--seed",
        "9",
        "--size",
        "96",
        "--slices",
        "8..10",
    ]));
    let manifest = data.join("manifest.csv").to_str().unwrap().to_string();
    let run = dir.join("run").to_str().unwrap().to_string();
    ok(&cruciate(&[
        "train",
        "--manifest",
        &manifest,
        "--model",
        "small",
        "--out",
        &run,
        "--epochs",
        "3",
        "--set",
        "data.size=48",
        "--set",
        "data.slices=6",
    ]));
    (manifest, run)
}

#[test]
fn evaluate_writes_the_report_and_it_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, run) = trained_run(dir.path());
    let out = dir.path().join("report");
    let o = cruciate(&[
        "evaluate",
        "--run",
        &run,
        "--manifest",
        &manifest,
        "--split",
        "test",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(report["accuracy"].is_number());
    assert!(report["auc"]["value"].is_number() || report["auc"]["value"].is_null());
    assert_eq!(report["per_class"].as_array().unwrap().len(), 2);
    for key in ["precision", "recall", "f1", "support"] {
        assert!(report["weighted_avg"][key].is_number(), "{key}");
    }
    let cm = report["confusion_matrix"].as_array().unwrap();
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, report["exams"].as_u64().unwrap());
    let roi = report["cam_in_roi"].as_array().unwrap();
    assert_eq!(roi.len(), 2);
    for r in roi {
        if r["exams"].as_u64().unwrap() > 0 {
            let share = r["energy_share"].as_f64().unwrap();
            let hits = r["pointing_hit_rate"].as_f64().unwrap();
            assert!(
                (0.0..=1.0).contains(&share) && (0.0..=1.0).contains(&hits),
                "{r}"
            );
        }
    }

    let html_path = out.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(external),
            "report refers outside itself: {external}"
        );
    }
    let url = format!("file://{}", html_path.display());
    let dom = chromium(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let loaded = dom
        .split("data-images-loaded=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's load script ran");
    let (done, all) = loaded.split_once('/').unwrap();
    assert_eq!(done, all, "images decoded: {loaded}");
    assert!(dom.matches("<svg").count() >= 5, "five charts");

    let shot = dir.path().join("shot.png");
    let o = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,1600",
        &url,
    ]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let pixels = &pixels[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    assert!(
        distinct.len() > 50,
        "screenshot looks blank: {} colours",
        distinct.len()
    );

    // compare: one row per run, sorted, as Markdown and HTML.
    let cmp = dir.path().join("compare");
    let o = cruciate(&[
        "compare",
        &run,
        &run,
        "--manifest",
        &manifest,
        "--split",
        "valid",
        "--sort",
        "f1",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    ok(&o);
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    assert_eq!(md.lines().count(), 4, "{md}");
    assert!(md.contains("weighted F1") && md.contains("small"));
    assert!(
        std::fs::read_to_string(cmp.join("compare.html"))
            .unwrap()
            .contains("<table>")
    );
}
