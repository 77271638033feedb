//! Support for the service tests: a `cruciate serve` process on a free port, a JSON client with
//! its token, and exams to upload.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An HTTP client that hands back 4xx and 5xx answers instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A running `cruciate serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data folder.
    pub data: PathBuf,
    /// The admin token.
    pub token: String,
    /// The DICOM storage SCP's port, when started with `--dicom-port`.
    pub dicom_port: Option<u16>,
    /// OHIF Viewer's port, when started with `--ohif`.
    pub ohif_port: Option<u16>,
}

impl Server {
    /// Starts `cruciate serve --data DATA --addr 127.0.0.1:0 EXTRA...` and waits until it
    /// listens.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_command("serve", data, extra)
    }

    /// Starts `cruciate COMMAND --data DATA --addr 127.0.0.1:0 EXTRA...`.
    pub fn start_command(command: &str, data: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cruciate"))
            .args([
                command,
                "--data",
                data.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("CRUCIATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("serve ended before listening"))
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split('/').take(3).collect::<Vec<_>>().join("/");
            }
        };
        let dicom_port = extra.contains(&"--dicom-port").then(|| {
            loop {
                let line = lines
                    .next()
                    .unwrap_or_else(|| panic!("serve ended before its DICOM node listened"))
                    .unwrap();
                if let Some(rest) = line.split("DICOM storage SCP").nth(1) {
                    break rest.rsplit(':').next().unwrap().trim().parse().unwrap();
                }
            }
        });
        let ohif_port = extra.contains(&"--ohif").then(|| {
            loop {
                let line = lines
                    .next()
                    .unwrap_or_else(|| panic!("serve ended before OHIF listened"))
                    .unwrap();
                if let Some(rest) = line.split("OHIF Viewer on http://").nth(1) {
                    let at = rest.split('/').next().unwrap();
                    break at.rsplit(':').next().unwrap().parse().unwrap();
                }
            }
        });
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_string();
        Self {
            child: Some(child),
            base,
            data: data.to_path_buf(),
            token,
            dicom_port,
            ohif_port,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM and waits for the server to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        child.wait().unwrap()
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// The server's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path` (with `token` when given): status and JSON body (null when not JSON).
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = agent().get(&self.url(path));
        if let Some(t) = token {
            request = request.header("Authorization", &format!("Bearer {t}"));
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET `path` as bytes (`token` empty for none).
    pub fn get_bytes(&self, path: &str, token: &str) -> (u16, Vec<u8>) {
        let mut request = agent().get(&self.url(path));
        if !token.is_empty() {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().unwrap();
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        (status, bytes)
    }

    /// A response header of GET `path`.
    pub fn header(&self, path: &str, name: &str) -> String {
        let response = agent().get(&self.url(path)).call().unwrap();
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// POST JSON.
    pub fn post_json(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let mut response = agent()
            .post(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// DELETE.
    pub fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        let mut response = agent()
            .delete(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Uploads `file` as `name`.
    pub fn upload(&self, file: &Path, name: &str, token: &str) -> (u16, Value) {
        let bytes = std::fs::read(file).unwrap();
        let mut response = agent()
            .post(&self.url(&format!("/api/v1/exams?filename={name}")))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A POST of `body` as `content_type`: the status, the response's headers (lower-case
    /// names) and its body.
    pub fn post_bytes(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut response = agent()
            .post(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let bytes = response.body_mut().read_to_vec().unwrap_or_default();
        (response.status().as_u16(), headers, bytes)
    }

    /// The results' sends of exam `id` (`GET /api/v1/exams/{id}/dicom`) once the first is
    /// sent; fails when it fails for good or `limit` passes.
    pub fn wait_for_sent(&self, id: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let status = self
                .get(&format!("/api/v1/exams/{id}/dicom"), Some(&self.token))
                .1;
            let state = &status["sends"][0]["status"];
            if state == "sent" {
                return status;
            }
            assert_ne!(state, "failed", "{status}");
            assert!(started.elapsed() < limit, "not sent: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A POST (declared as JSON) written by hand on a socket: `declared` as its Content-Length (then only the
    /// headers are sent), else `body` chunked. Returns the status.
    pub fn raw_post_status(
        &self,
        path: &str,
        token: &str,
        declared: Option<u64>,
        body: &[u8],
    ) -> u16 {
        let host = self.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nConnection: close\r\n"
        );
        match declared {
            Some(n) => head += &format!("Content-Length: {n}\r\n\r\n"),
            None => head += "Transfer-Encoding: chunked\r\n\r\n",
        }
        s.write_all(head.as_bytes()).unwrap();
        if declared.is_none() {
            for chunk in body.chunks(64 << 10) {
                if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .is_err()
                    || s.write_all(chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n");
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"))
    }

    /// Waits until `n` exams are done; returns them.
    pub fn wait_for_done(&self, n: usize, limit: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let list = self.get("/api/v1/exams?status=done", Some(&self.token)).1;
            let exams = list["exams"].as_array().cloned().unwrap_or_default();
            if exams.len() >= n {
                return exams;
            }
            assert!(
                started.elapsed() < limit,
                "only {} exams done: {list}",
                exams.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until exam `id` is done or failed; returns it.
    pub fn wait_for_exam(&self, id: &str, token: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let exam = self.get(&format!("/api/v1/exams/{id}"), Some(token)).1;
            if exam["status"] == "done" || exam["status"] == "failed" {
                return exam;
            }
            assert!(
                started.elapsed() < limit,
                "exam {id} still {}",
                exam["status"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A synthetic exam as a DICOM series (20 slices of 128x128) written by `cruciate synth`:
/// the folder of its files.
pub fn phantom_dicom_series(dir: &Path) -> PathBuf {
    let out = dir.join("dicom-phantom");
    let o = Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args([
            "synth",
            "--out",
            out.to_str().unwrap(),
            "--exams",
            "1",
            "--format",
            "dicom",
        ])
        .args(["--size", "128", "--slices", "20..20", "--seed", "4"])
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("exams/00000")
}

/// The series of [`phantom_dicom_series`] as a zip, in `dir`.
pub fn phantom_dicom_zip(dir: &Path) -> PathBuf {
    edited_phantom_zip(dir, "exam.zip", |_, _| {})
}

/// The series of [`phantom_dicom_series`] with `edit(k, instance)` applied to its `k`-th file
/// (in name order), zipped as `dir/name`.
pub fn edited_phantom_zip(
    dir: &Path,
    name: &str,
    edit: impl Fn(usize, &mut dicom_object::DefaultDicomObject),
) -> PathBuf {
    let series = phantom_dicom_series(dir);
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let mut files: Vec<_> = std::fs::read_dir(&series)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (k, f) in files.iter().enumerate() {
        let mut obj = dicom_object::open_file(f).unwrap();
        edit(k, &mut obj);
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        zip.start_file(
            f.file_name().unwrap().to_string_lossy(),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A config file whose analysers get each job 4 s late, so that a job can be caught running;
/// no seeded exams, short leases.
pub fn slow_analyser_config(dir: &Path) -> std::path::PathBuf {
    let slow = dir.join("slow-analyser");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nwhile IFS= read -r job; do sleep 4; printf '%s\\n' \"$job\"; done | exec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_cruciate")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "seed_exams = 0\nlease_seconds = 3\nanalyser = \"{}\"\n",
            slow.display()
        ),
    )
    .unwrap();
    config
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A small network trained for one epoch on 4 slices of 32x32: enough to run, not to learn.
pub const QUICK_NETWORK: [&str; 8] = [
    "--model",
    "small",
    "--epochs",
    "1",
    "--set",
    "data.size=32",
    "--set",
    "data.slices=4",
];

/// Runs `cruciate ARGS...` quietly and returns what it did.
pub fn cruciate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap()
}

/// The text a command printed, after checking that it succeeded.
pub fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `data` of `shape` as a float32 `.npy`.
pub fn npy(path: &Path, shape: [usize; 3], data: &[f32]) {
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        shape[0], shape[1], shape[2]
    );
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// `data` of `[s, r, c]` with its axes in the order `axes` (numpy's transpose).
pub fn transpose(data: &[f32], [s, r, c]: [usize; 3], axes: [usize; 3]) -> ([usize; 3], Vec<f32>) {
    let dims = [s, r, c];
    let shape = axes.map(|a| dims[a]);
    let mut out = Vec::with_capacity(data.len());
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                let mut at = [0; 3];
                at[axes[0]] = i;
                at[axes[1]] = j;
                at[axes[2]] = k;
                out.push(data[(at[0] * r + at[1]) * c + at[2]]);
            }
        }
    }
    (shape, out)
}

/// A DICOM study folder in `dir` of three series of one phantom knee: `SAG PD FS` of a single
/// slice (the reader's rules prefer it; the input gate refuses it), `SAG T2` of 24 slices (what
/// the gate reads) and `COR PD FS` (another plane). Returns the folder and the two sagittal
/// series' headers.
pub fn study_of_three_series(dir: &Path) -> (PathBuf, [cruciate_volume::dicom::SeriesInfo; 2]) {
    use cruciate_volume::dicom::{SeriesInfo, uid_from_seed, write_series};
    let data = dir.join("phantoms");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--exams",
        "1",
        "--size",
        "96",
        "--slices",
        "24..24",
        "--seed",
        "5",
    ]));
    let mut volume = cruciate_volume::read_path(
        &data.join("exams/sagittal/00000.npy"),
        &cruciate_volume::ReadOptions::default(),
    )
    .unwrap()
    .with_orientation(cruciate_volume::default_sagittal());
    volume.spacing = [3.5, 0.5, 0.5];
    let study = dir.join("study");
    let info = |seed: u64, description: &str| SeriesInfo {
        study_uid: uid_from_seed(5, 0),
        series_uid: uid_from_seed(seed, 1),
        patient_id: "PHANTOM-5".into(),
        patient_name: "Phantom^Knee".into(),
        description: description.into(),
        manufacturer: "Cruciate".into(),
        field_strength_t: 1.5,
    };
    let mut one = volume.clone();
    one.data.truncate(96 * 96);
    one.shape = [1, 96, 96];
    let (pd, t2) = (info(1, "SAG PD FS"), info(2, "SAG T2"));
    write_series(&one, &study.join("pd"), &pd).unwrap();
    write_series(&volume, &study.join("t2"), &t2).unwrap();
    let (shape, values) = transpose(&volume.data, volume.shape, [2, 1, 0]);
    let coronal = cruciate_volume::Volume::new(values, shape, volume.meta.clone())
        .unwrap()
        .with_orientation(
            cruciate_volume::Orientation::from_dicom([1.0, 0.0, 0.0, 0.0, 0.0, -1.0], [0.0; 3])
                .unwrap(),
        );
    write_series(&coronal, &study.join("cor"), &info(3, "COR PD FS")).unwrap();
    (study, [pd, t2])
}

/// Every file below `folder` in one zip at `path`, named by their paths below `folder`.
pub fn zip_folder(folder: &Path, path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                pending.push(entry);
                continue;
            }
            let name = entry.strip_prefix(folder).unwrap().to_string_lossy();
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&std::fs::read(&entry).unwrap()).unwrap();
        }
    }
    zip.finish().unwrap();
}

/// An Orthanc server on loopback with a test configuration.
pub struct Orthanc {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub http: String,
}

/// Debian's orthanc-dicomweb plugin, which `.ci/run` installs.
pub const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

impl Orthanc {
    /// Orthanc sending to Cruciate's DICOM port `cruciate_port`, listening on `dicom_port`.
    pub fn start(program: &Path, dir: &Path, dicom_port: u16, cruciate_port: u16) -> Self {
        Self::start_with(program, dir, dicom_port, cruciate_port, None)
    }

    /// Orthanc with its DICOMweb plugin (at `/dicom-web/`) and `servers` as its DICOMweb
    /// servers.
    pub fn with_dicomweb(program: &Path, dir: &Path, servers: Value) -> Self {
        Self::start_with(program, dir, free_port(), free_port(), Some(servers))
    }

    fn start_with(
        program: &Path,
        dir: &Path,
        dicom_port: u16,
        cruciate_port: u16,
        dicomweb_servers: Option<Value>,
    ) -> Self {
        let http_port = free_port();
        let mut config = serde_json::json!({
            "Name": "cruciate-test",
            "StorageDirectory": dir.join("storage"),
            "IndexDirectory": dir.join("storage"),
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "HttpServerEnabled": true,
            "DicomServerEnabled": true,
            "DicomCheckCalledAet": false,
            "DicomAlwaysAllowStore": true,
            "DicomAlwaysAllowEcho": true,
            "Plugins": [],
            "StableAge": 1,
            "DicomModalities": { "cruciate": ["CRUCIATE", "127.0.0.1", cruciate_port] }
        });
        if let Some(servers) = dicomweb_servers {
            config["Plugins"] = serde_json::json!([DICOMWEB_PLUGIN]);
            config["DicomWeb"] = serde_json::json!({
                "Enable": true,
                "Root": "/dicom-web/",
                "Servers": servers
            });
        }
        let path = dir.join("orthanc.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let child = Command::new(program)
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let orthanc = Self {
            child,
            http: format!("http://127.0.0.1:{http_port}"),
        };
        let started = Instant::now();
        while agent()
            .get(format!("{}/system", orthanc.http))
            .call()
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "Orthanc did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        orthanc
    }

    /// Stores `files` through its REST API; the Orthanc id of their study.
    pub fn store_files(&self, files: &[PathBuf]) -> String {
        let mut study = String::new();
        for f in files {
            study = self.post("/instances", std::fs::read(f).unwrap())["ParentStudy"]
                .as_str()
                .unwrap()
                .to_string();
        }
        study
    }

    /// GET `path` of its REST API, as JSON.
    pub fn get(&self, path: &str) -> Value {
        agent()
            .get(format!("{}{path}", self.http))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    }

    /// POST `body` to `path` of its REST API (200 expected), as JSON.
    pub fn post(&self, path: &str, body: Vec<u8>) -> Value {
        let mut r = agent()
            .post(format!("{}{path}", self.http))
            .send(&body[..])
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.body_mut().read_json().unwrap()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Orthanc, where its DICOMweb plugin is installed (as `.ci/run` does).
pub fn orthanc_with_dicomweb() -> Option<PathBuf> {
    let program = cruciate_testkit::system_tool("Orthanc")?;
    assert!(
        Path::new(DICOMWEB_PLUGIN).is_file() || std::env::var_os("CRUCIATE_FIXTURES").is_none(),
        "{DICOMWEB_PLUGIN} is missing: .ci/run installs orthanc-dicomweb"
    );
    if !Path::new(DICOMWEB_PLUGIN).is_file() {
        eprintln!("skipped: orthanc-dicomweb is not installed");
        return None;
    }
    Some(program)
}

/// `exams` phantoms of three planes (64 px, 12 to 14 slices, seed 3) written to `dir/synth`
/// and laid out as MRNet's dataset in `dir/mrnet`; the layout's folder and what `synth` said.
pub fn phantom_mrnet_layout(dir: &Path, exams: usize) -> (PathBuf, String) {
    let layout = dir.join("mrnet");
    let said = succeeded(&cruciate(&[
        "synth",
        "--out",
        dir.join("synth").to_str().unwrap(),
        "--exams",
        &exams.to_string(),
        "--size",
        "64",
        "--slices",
        "12..14",
        "--seed",
        "3",
        "--planes",
        "sagittal,coronal,axial",
        "--mrnet-layout",
        layout.to_str().unwrap(),
    ]));
    (layout, said)
}

/// `cruciate reproduce mrnet` of `layout` into `out`, small: `small` networks on 32 px and 4
/// slices (the meniscus networks with global max pooling of each slice's maps), one epoch, a
/// quarter of the training cases held out for the combiners.
pub fn reproduce_small(layout: &Path, out: &Path) -> std::process::Output {
    reproduce_tiny(
        layout,
        out,
        &["--set-for", "meniscus:model.spatial_pooling=\"max\""],
    )
}

/// Settings of a network small and quick enough for tests: `small`, 4 slices at 32x32, one
/// epoch.
pub const TINY_NETWORK: [&str; 8] = [
    "--set",
    "model.name=\"small\"",
    "--set",
    "data.size=32",
    "--set",
    "data.slices=4",
    "--set",
    "train.epochs=1",
];

/// `reproduce mrnet` with tiny networks ([`TINY_NETWORK`]) and `extra` arguments.
pub fn reproduce_tiny(layout: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "reproduce",
        "mrnet",
        layout.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--valid",
        "0.25",
    ];
    args.extend(TINY_NETWORK);
    args.extend(extra);
    cruciate(&args)
}

/// A reading of abnormality, the ACL and the menisci, each combining sagittal, coronal and
/// axial networks, trained by `reproduce mrnet` on 40 small phantoms.
pub fn trained_reading(dir: &Path) -> PathBuf {
    let (layout, _) = phantom_mrnet_layout(dir, 40);
    let out = dir.join("reproduced");
    succeeded(&reproduce_small(&layout, &out));
    out.join("knee")
}

/// Two synthetic three-plane DICOM studies (one folder each, a series per plane).
pub fn three_plane_studies(dir: &Path) -> Vec<PathBuf> {
    let out = dir.join("studies");
    succeeded(&cruciate(&[
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "dicom",
        "--planes",
        "sagittal,coronal,axial",
        "--exams",
        "2",
        "--size",
        "64",
        "--slices",
        "12..14",
        "--seed",
        "9",
    ]));
    ["00000", "00001"]
        .iter()
        .map(|id| out.join("exams").join(id))
        .collect()
}
