//! The web UI in Debian's headless Chromium, driven through chromedriver (fantoccini): sign in
//! with the admin token, see the worklist of analysed demo exams, open one, move through its
//! slices with the keyboard and the wheel, and turn the heat map off and on; the screenshots
//! must show the overlay's colours when it is on. The screenshots are kept in `target/ui/` (and
//! copied into docs/service.md's pictures by hand).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use fantoccini::{ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session through a fresh chromedriver.
async fn browser() -> (Driver, fantoccini::Client) {
    let (driver, port) = chromedriver();
    let mut caps = serde_json::map::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
            "--disable-background-networking", "--disable-component-update", "--no-first-run"]}),
    );
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    (driver, client)
}

/// Signs in at `server` with its admin token.
async fn sign_in(client: &fantoccini::Client, server: &Server) {
    client.goto(&server.base).await.unwrap();
    let token = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    token.send_keys(&server.token).await.unwrap();
    client
        .find(Locator::Css("#signin-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn chromedriver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is needed: apt-get install chromium-driver (.ci/run does)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Driver(child), port)
}

/// Pixels of a PNG screenshot inside `[x0, x1) x [y0, y1)` that are strongly coloured
/// (saturated red, yellow or cyan of the jet map), not grey.
fn coloured_pixels(png: &[u8], (x0, y0, x1, y1): (u32, u32, u32, u32)) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut n = 0;
    for y in y0..y1.min(info.height) {
        for x in x0..x1.min(info.width) {
            let at = ((y * info.width + x) as usize) * channels;
            let (r, g, b) = (buf[at] as i32, buf[at + 1] as i32, buf[at + 2] as i32);
            if r.max(g).max(b) - r.min(g).min(b) > 60 {
                n += 1;
            }
        }
    }
    n
}

/// The text of the element `locator` finds.
async fn text_at(client: &fantoccini::Client, locator: Locator<'_>) -> String {
    client.find(locator).await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_radiologist_signs_in_reads_the_worklist_and_scrolls_an_exam_with_its_heat_map() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    server.wait_for_done(4, Duration::from_secs(120));
    let (_driver, client) = browser().await;
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui");
    std::fs::create_dir_all(&shots).unwrap();
    sign_in(&client, &server).await;
    // The worklist: four analysed synthetic exams, each marked synthetic.
    client
        .wait()
        .for_element(Locator::Css("#worklist tbody tr"))
        .await
        .unwrap();
    let started = Instant::now();
    let rows = loop {
        let rows = client
            .find_all(Locator::Css("#worklist tbody tr"))
            .await
            .unwrap();
        if rows.len() == 4 || started.elapsed() > Duration::from_secs(20) {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rows.len(), 4);
    let table = text_at(&client, Locator::Id("worklist")).await;
    assert!(
        table.contains("done") && table.contains("synthetic"),
        "{table}"
    );
    assert!(
        table.contains("injured") && table.contains("healthy"),
        "{table}"
    );
    // Each call is styled by its class: the first (negative) class as healthy.
    for (style, word) in [("healthy", "healthy"), ("injured", "injured")] {
        let styled = client
            .find_all(Locator::Css(&format!("#worklist tbody span.{style}")))
            .await
            .unwrap();
        assert!(!styled.is_empty(), "no call styled {style}");
        for cell in styled {
            assert_eq!(cell.text().await.unwrap(), word);
        }
    }
    // Admins see the drift panel: the demo's stream, too short yet to be compared.
    let drift = text_at(&client, Locator::Id("drift")).await;
    assert!(
        drift.contains("demo") && drift.contains("fewer than 20 exams"),
        "{drift}"
    );
    std::fs::write(
        shots.join("worklist.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The viewer: the exam called injured with the highest probability.
    client
        .find(Locator::XPath("//tbody/tr[.//span[text()='injured']]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#result .call"))
        .await
        .unwrap();
    // Beside the call, the grade set of the demo's calibration.
    let set = text_at(&client, Locator::Css("#grade-set")).await;
    assert!(
        set.starts_with("Grade set (conformal): ") && set.contains(", 90 %"),
        "{set}"
    );
    // A seeded phantom is an .npy: the viewer says its spacing is unknown.
    let note = text_at(&client, Locator::Id("spacing-unknown")).await;
    assert!(note.starts_with("Voxel spacing unknown"), "{note}");
    let loaded = |id: &'static str| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            loop {
                let ok = client
                    .execute(&format!("const i = document.getElementById('{id}'); return !i.hidden && i.complete && i.naturalWidth > 0;"), vec![])
                    .await
                    .unwrap();
                if ok == serde_json::Value::Bool(true) {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "{id} never loaded"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    loaded("slice-img").await;
    loaded("cam-img").await;
    let synthetic = client.find(Locator::Id("synthetic-label")).await.unwrap();
    assert!(
        synthetic.is_displayed().await.unwrap(),
        "the synthetic label shows"
    );
    // A .npy exam has no DICOM study: no DICOM panel, no SR to download.
    assert!(
        !client
            .find(Locator::Id("dicom"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "the DICOM panel shows for a .npy exam"
    );
    // One meaning of "key slice" everywhere: the viewer opens on it, the result names it, and
    // the ticks under the slider label it, slices counted from 1.
    let id: String = client
        .execute("return state.exam.id;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let exam = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let key = exam["result"]["explanation"]["key_slice"].as_u64().unwrap() + 1;
    let count = exam["result"]["shape"][0].as_u64().unwrap();
    let result_text = text_at(&client, Locator::Id("result")).await;
    assert!(
        result_text.contains(&format!(
            "Key slice {key} (the largest share of the heat map)"
        )),
        "{result_text}"
    );
    assert!(
        result_text.contains("Strongest slice per class: healthy "),
        "{result_text}"
    );
    let ticks: Vec<String> = {
        let mut ticks = Vec::new();
        for t in client
            .find_all(Locator::Css("#key-marks .slice-mark"))
            .await
            .unwrap()
        {
            ticks.push(t.text().await.unwrap());
        }
        ticks
    };
    for wanted in ["1".to_string(), count.to_string(), key.to_string()] {
        assert!(ticks.contains(&wanted), "tick {wanted} missing: {ticks:?}");
    }
    let key_tick = text_at(&client, Locator::Css("#key-marks .slice-mark.key")).await;
    assert_eq!(key_tick, key.to_string());
    let label = |c: fantoccini::Client| async move {
        c.find(Locator::Id("slice-label"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let first = label(client.clone()).await;
    assert!(
        first.starts_with(&format!("slice {key} of {count}")),
        "the viewer opens on the key slice, counted from 1: {first}"
    );
    // Keys and the wheel move through the slices.
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E013}")
        .await
        .unwrap(); // ArrowUp
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = label(client.clone()).await;
    assert_ne!(first, second, "ArrowUp moved to another slice");
    client
        .execute("document.getElementById('stage').dispatchEvent(new WheelEvent('wheel', {deltaY: 100, bubbles: true}));", vec![])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(
        second,
        label(client.clone()).await,
        "the wheel moved to another slice"
    );
    // Back to the key slice, then the heat map on and off.
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E015}\u{E015}")
        .await
        .unwrap(); // ArrowDown x2
    tokio::time::sleep(Duration::from_millis(300)).await;
    loaded("cam-img").await;
    let stage = client.find(Locator::Id("stage")).await.unwrap();
    let (x, y, w, h) = stage.rectangle().await.unwrap();
    let area = (x as u32, y as u32, (x + w) as u32, (y + h) as u32);
    client.execute("document.getElementById('cam-opacity').value = 100; document.getElementById('cam-opacity').dispatchEvent(new Event('input'));", vec![]).await.unwrap();
    let with = client.screenshot().await.unwrap();
    std::fs::write(shots.join("viewer.png"), &with).unwrap();
    client
        .find(Locator::Id("cam-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let without = client.screenshot().await.unwrap();
    let (on, off) = (
        coloured_pixels(&with, area),
        coloured_pixels(&without, area),
    );
    assert!(
        on > 2000 && off * 10 < on,
        "heat colours: {on} with the overlay, {off} without"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clinician_finds_a_study_on_the_pacs_and_has_it_analysed_from_the_worklist() {
    let Some(program) = common::orthanc_with_dicomweb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let series = common::phantom_dicom_series(dir.path());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&series)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let orthanc_dir = dir.path().join("orthanc");
    std::fs::create_dir_all(&orthanc_dir).unwrap();
    let orthanc = common::Orthanc::with_dicomweb(&program, &orthanc_dir, serde_json::json!({}));
    orthanc.store_files(&files);
    let patient = orthanc.get("/patients")[0].clone();
    let patient_id = orthanc.get(&format!("/patients/{}", patient.as_str().unwrap()))
        ["MainDicomTags"]["PatientID"]
        .as_str()
        .unwrap()
        .to_string();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    // The PACS given by its flag (the PACS test gives it in the settings file).
    let pacs = format!("{}/dicom-web", orthanc.http);
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--pacs-dicomweb",
            &pacs,
        ],
    );
    let (_driver, client) = browser().await;
    sign_in(&client, &server).await;
    // The PACS panel is there for a role that sees identities; a search by patient lists the
    // study, and "Analyse" retrieves it into the worklist, where it is analysed.
    let field = client
        .wait()
        .for_element(Locator::Id("pacs-patient"))
        .await
        .unwrap();
    // It is in the page hidden, and shown once `/me` says the caller may search.
    let started = Instant::now();
    while !field.is_displayed().await.unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the PACS panel is never shown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    field.send_keys(&patient_id).await.unwrap();
    client
        .find(Locator::Css("#pacs-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let analyse = client
        .wait()
        .for_element(Locator::Css("#pacs-studies button.pacs-analyse"))
        .await
        .unwrap();
    let listed = text_at(&client, Locator::Id("pacs-studies")).await;
    assert!(
        listed.contains(&patient_id) && listed.contains("MR"),
        "{listed}"
    );
    analyse.click().await.unwrap();
    let started = Instant::now();
    loop {
        let table = text_at(&client, Locator::Id("worklist")).await;
        if table.contains("PACS ") && table.contains("done") {
            break;
        }
        let state = analyse.text().await.unwrap_or_default();
        assert_ne!(
            state,
            "Not analysed",
            "{}",
            text_at(&client, Locator::Id("pacs-error")).await
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not in the worklist: {table}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    client.close().await.unwrap();
}

/// The value `script` returns once it is true-ish, waiting up to 20 s.
async fn wait_for_script(client: &fantoccini::Client, script: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if !(value.is_null() || value == serde_json::Value::Bool(false)) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never true: {script}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_shows_a_column_per_finding_and_the_viewer_switches_planes_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let reading = common::trained_reading(dir.path());
    let study = common::three_plane_studies(dir.path()).remove(0);
    let zip = dir.path().join("knee.zip");
    common::zip_folder(&study, &zip);
    let server = Server::start(
        &dir.path().join("data"),
        &["--model", reading.to_str().unwrap()],
    );
    let (code, body) = server.upload(&zip, "knee.zip", &server.token);
    assert_eq!(code, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    let (_driver, client) = browser().await;
    sign_in(&client, &server).await;
    // A column per finding, each holding its probability.
    wait_for_script(
        &client,
        "return document.querySelectorAll('#worklist th.finding-col').length === 3;",
    )
    .await;
    let mut headers = Vec::new();
    for th in client
        .find_all(Locator::Css("#worklist th.finding-col"))
        .await
        .unwrap()
    {
        headers.push(th.text().await.unwrap());
    }
    assert_eq!(headers, ["Abnormality", "ACL tear", "Meniscal tear"]);
    let row = text_at(&client, Locator::Css("#worklist tbody tr")).await;
    for f in exam["findings"].as_array().unwrap() {
        let p = f["probability"].as_f64().unwrap();
        assert!(row.contains(&format!("{p:.2}")), "{p:.2} in {row}");
    }

    // The viewer: every finding listed, the plane and finding switches.
    client
        .find(Locator::Css("#worklist tbody tr"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_script(
        &client,
        "return document.querySelectorAll('#findings li').length === 3;",
    )
    .await;
    let listed = text_at(&client, Locator::Id("findings")).await;
    for f in ["Abnormality: ", "ACL tear: ", "Meniscal tear: "] {
        assert!(listed.contains(f), "{f} in {listed}");
    }
    // Each finding but the headline (the ACL, read with its grade below) is agreed with or not
    // where it is listed; the read is shown there once recorded.
    assert_eq!(
        client
            .find_all(Locator::Css("#findings li[data-finding='acl'] button"))
            .await
            .unwrap()
            .len(),
        0
    );
    client
        .find(Locator::Css(
            "#findings li[data-finding='meniscus'] .finding-differ",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let read = wait_for_script(
        &client,
        "const r = document.querySelector(\"#findings li[data-finding='meniscus'] .finding-read\");
         return r && r.textContent;",
    )
    .await;
    assert!(read.as_str().unwrap().contains("(differs)"), "{read}");
    assert!(
        client
            .find(Locator::Id("view-switch"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    let detail = server
        .get(&format!("/api/v1/exams/{id}"), Some(&server.token))
        .1;
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui");
    std::fs::create_dir_all(&shots).unwrap();
    for (plane, finding) in [("coronal", "meniscus"), ("axial", "abnormal")] {
        client
            .execute(
                &format!(
                    "document.getElementById('plane-select').value = '{plane}';
                     document.getElementById('finding-select').value = '{finding}';
                     document.getElementById('finding-select').dispatchEvent(new Event('change'));"
                ),
                vec![],
            )
            .await
            .unwrap();
        let series = detail["result"]["planes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plane"] == plane)
            .unwrap();
        let [slices, rows, cols] = [0, 1, 2].map(|k| series["exam"]["shape"][k].as_u64().unwrap());
        // The plane's own slices, at its own size, with the finding's heat over them.
        let label = wait_for_script(
            &client,
            &format!(
                "const l = document.getElementById('slice-label').textContent;
                 const s = document.getElementById('slice-img'), c = document.getElementById('cam-img');
                 return l.startsWith('{plane} slice') && s.complete && s.naturalWidth === {cols}
                   && s.naturalHeight === {rows} && !c.hidden && c.complete && c.naturalWidth === {cols} && l;"
            ),
        )
        .await;
        assert!(
            label.as_str().unwrap().contains(&format!(" of {slices}")),
            "{label}"
        );
        std::fs::write(
            shots.join(format!("reading-{plane}.png")),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
    }
}

/// OHIF Viewer's built files: `target/ohif/package/dist`, which `.ci/run` unpacks from the
/// npm registry's `@ohif/app` package; `None` (the test skips) where absent and
/// `CRUCIATE_FIXTURES` unset.
fn ohif_dist() -> Option<std::path::PathBuf> {
    let dist =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ohif/package/dist");
    if dist.join("index.html").is_file() {
        return Some(dist);
    }
    assert!(
        std::env::var_os("CRUCIATE_FIXTURES").is_none(),
        "{} is missing: .ci/run unpacks it (npm pack @ohif/app)",
        dist.display()
    );
    eprintln!("skipped: OHIF's files are not unpacked");
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn ohif_served_beside_cruciate_shows_an_exam_with_its_segmentation_over_the_slices() {
    let Some(dist) = ohif_dist() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--ohif",
            dist.to_str().unwrap(),
            "--ohif-port",
            "0",
        ],
    );
    let ohif = server.ohif_port.unwrap();
    let zip = common::phantom_dicom_zip(dir.path());
    let (code, body) = server.upload(&zip, "knee.zip", &server.token);
    assert_eq!(code, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let exam = server.wait_for_exam(&id, &server.token, Duration::from_secs(120));
    assert_eq!(exam["status"], "done", "{exam}");
    let (_, studies) = server.get("/dicomweb/studies", Some(&server.token));
    let uid = studies[0]["0020000D"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();

    // OHIF's settings point at this service's DICOMweb, which answers OHIF's origin only.
    let http_port = server.base.rsplit(':').next().unwrap().to_string();
    let settings = common::agent()
        .get(&format!("http://127.0.0.1:{ohif}/app-config.js"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        settings.contains(&format!(":{http_port}/dicomweb'")),
        "{settings}"
    );
    let preflight = |origin: String| {
        let response = common::agent()
            .options(&server.url("/dicomweb/studies"))
            .header("Origin", &origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .call()
            .unwrap();
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let origin = format!("http://127.0.0.1:{ohif}");
    assert_eq!(preflight(origin.clone()), Some(origin.clone()));
    assert_eq!(preflight("http://evil.example:9".into()), None);

    // A radiologist opens the exam in OHIF: the series, the SR and the SEG are listed.
    let (_driver, client) = browser().await;
    client
        .goto(&format!(
            "{origin}/viewer?StudyInstanceUIDs={uid}&token={}",
            server.token
        ))
        .await
        .unwrap();
    let listed = |what: &'static str| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            loop {
                let body = client
                    .find(Locator::Css("body"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap_or_default();
                if body.contains(what) {
                    return body;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "OHIF never listed {what}: {body}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    listed("SAG PD FS").await;
    listed("Cruciate ACL report").await;
    listed("Cruciate heat map").await;
    let body = listed("Cruciate attention region").await;
    assert!(body.contains("SEG"), "{body}");
    // OHIF's first-visit tour, out of the way.
    let _ = client
        .execute(
            "const skip = [...document.querySelectorAll('button, span, div')] \
               .find(e => e.children.length === 0 && e.textContent.trim() === 'Skip all'); \
             if (skip) skip.click(); return true;",
            vec![],
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = client.screenshot().await.unwrap();
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("ohif-before.png"), &before).unwrap();
    client
        .execute(
            "window.__log = []; const open = XMLHttpRequest.prototype.open; \
             XMLHttpRequest.prototype.open = function(m, u) { const x = this; \
               x.addEventListener('loadend', () => window.__log.push(m + ' ' + u + ' ' + x.status + ' ' + (x.getResponseHeader('content-type')||''))); \
               return open.apply(this, arguments); }; \
             const f = window.fetch; window.fetch = function(u, o) { return f.apply(this, arguments).then(r => { window.__log.push('fetch ' + u + ' ' + r.status); return r; }); }; \
             const e = console.error; console.error = function() { window.__log.push('error ' + [...arguments].map(String).join(' ')); return e.apply(this, arguments); }; \
             const w = console.warn; console.warn = function() { window.__log.push('warn ' + [...arguments].map(String).join(' ')); return w.apply(this, arguments); }; \
             window.addEventListener('error', ev => window.__log.push('onerror ' + ev.message)); \
             window.addEventListener('unhandledrejection', ev => window.__log.push('rejection ' + (ev.reason && (ev.reason.stack || ev.reason)))); return true;",
            vec![],
        )
        .await
        .unwrap();
    // The SEG opened over its series: a double click on it, then OHIF's "LOAD".
    client
        .execute(
            "const seg = [...document.querySelectorAll('*')].filter(e => e.children.length === 0 \
               && e.textContent.includes('Cruciate attention region'))[0]; \
             const target = seg.closest('[data-cy]') || seg.parentElement; \
             target.dispatchEvent(new MouseEvent('dblclick', {bubbles: true})); return true;",
            vec![],
        )
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let clicked = client
            .execute(
                "const load = [...document.querySelectorAll('button, div, span')] \
                   .find(e => e.children.length === 0 && e.textContent.trim() === 'LOAD'); \
                 if (load) { load.click(); return true; } return false;",
                vec![],
            )
            .await
            .unwrap();
        if clicked == serde_json::Value::Bool(true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "OHIF never offered to load the SEG"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The knee's middle, away from OHIF's own coloured controls.
    let middle = (550, 150, 1150, 800);
    let was = coloured_pixels(&before, middle);
    let started = Instant::now();
    let (_after, now) = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let shot = client.screenshot().await.unwrap();
        let n = coloured_pixels(&shot, middle);
        if n > was + 2000 || started.elapsed() > Duration::from_secs(60) {
            break (shot, n);
        }
    };
    let log = client
        .execute("return window.__log;", vec![])
        .await
        .unwrap();
    assert!(
        now > was + 2000,
        "the SEG's overlay: {was} coloured pixels before, {now} after; OHIF said {log:#}"
    );
    // OHIF asks whether to keep the segmentation open: yes, for the picture.
    let _ = client
        .execute(
            "const yes = [...document.querySelectorAll('button')] \
               .find(e => e.textContent.trim() === 'Yes'); if (yes) yes.click(); return true;",
            vec![],
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write(shots.join("ohif.png"), client.screenshot().await.unwrap()).unwrap();
}
