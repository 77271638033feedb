//! Several workers on one PostgreSQL queue: a real PostgreSQL (Debian's `postgresql`, started
//! here with `initdb` and `pg_ctl` as the `postgres` user on a port of its own), one
//! `cruciate serve` taking uploads, two `cruciate worker` processes sharing 20 jobs. Every job
//! runs exactly once and both workers take some.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// A PostgreSQL server in a temporary folder.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn as_postgres(program: &Path) -> Command {
    // initdb refuses root: run the server's tools as the postgres user when we are root.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    fn start() -> Self {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is needed: apt-get install postgresql (.ci/run does)")
            .map(|e| e.unwrap().path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .collect();
        versions.sort();
        let bin = versions
            .pop()
            .expect("no PostgreSQL server under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = dir.path().join("pg");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let o = as_postgres(&bin.join("initdb"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let o = as_postgres(&bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-o", &options, "-w", "-l"])
            .arg(dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Self {
            bin,
            data,
            port,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Rows of `sql`, `|`-separated.
    fn query(&self, sql: &str) -> Vec<String> {
        let o = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn two_workers_on_postgresql_share_twenty_jobs_each_run_once() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "seed_exams = 0\n").unwrap();
    let db = pg.url();
    let server = Server::start(
        &data,
        &[
            "--db",
            &db,
            "--workers",
            "0",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    // 20 small synthetic exams, uploaded while no worker runs.
    let exams = dir.path().join("phantoms");
    let o = Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args([
            "synth",
            "--out",
            exams.to_str().unwrap(),
            "--exams",
            "20",
            "--size",
            "64",
            "--slices",
            "10..10",
        ])
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap();
    assert!(o.status.success());
    for i in 0..20 {
        let file = exams.join(format!("exams/sagittal/{i:05}.npy"));
        let (status, body) = server.upload(&file, &format!("{i:05}.npy"), &server.token);
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(
        pg.query("SELECT count(*) FROM exams WHERE status = 'queued'"),
        ["20"]
    );
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cruciate"))
                .args(["worker", "--db", &db, "--data", data.to_str().unwrap()])
                .env("CRUCIATE_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    while pg.query("SELECT count(*) FROM exams WHERE status = 'done'") != ["20"] {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{:?}",
            pg.query("SELECT status, count(*) FROM exams GROUP BY status")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    for mut w in workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    let rows = pg.query("SELECT worker, attempts FROM exams");
    assert_eq!(rows.len(), 20);
    let mut by_process = std::collections::BTreeMap::new();
    for row in &rows {
        let (worker, attempts) = row.split_once('|').unwrap();
        assert_eq!(attempts, "1", "{row}: every job ran exactly once");
        // Worker names are PID-RANDOM-TASK: the process is the first two parts.
        let process = worker.rsplit_once('-').unwrap().0.to_string();
        *by_process.entry(process).or_insert(0) += 1;
    }
    assert_eq!(
        by_process.len(),
        2,
        "both workers took jobs: {by_process:?}"
    );
    assert!(by_process.values().all(|&n| n > 0));
    assert_eq!(
        server
            .get("/api/v1/exams?status=done", Some(&server.token))
            .1["total"],
        20
    );
}
