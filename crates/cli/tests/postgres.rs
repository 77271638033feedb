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

fn cruciate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(args)
        .env("CRUCIATE_LOG", "warn")
        .output()
        .unwrap()
}

fn succeeded(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// 24 tiny phantoms (32x32, 4 slices) in `out`, from dataset seed `seed`.
fn small_phantoms(out: &str, seed: &str) {
    succeeded(cruciate(&[
        "synth", "--out", out, "--exams", "24", "--size", "32", "--slices", "4..4", "--seed", seed,
    ]));
}

/// `n` `cruciate worker --research` processes on the queue at `db`, each waiting for jobs.
fn research_workers(db: &str, n: usize) -> Vec<std::process::Child> {
    use std::io::BufRead as _;
    (0..n)
        .map(|_| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_cruciate"))
                .args(["worker", "--research", "--db", db])
                .env("CRUCIATE_LOG", "warn")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.starts_with("research worker "), "{line}");
            child
        })
        .collect()
}

/// Each finished trial's settings (as JSON text) and fold scores, from `trials.jsonl`.
fn trials(out: &Path) -> std::collections::BTreeMap<String, Vec<f64>> {
    std::fs::read_to_string(out.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let t: serde_json::Value = serde_json::from_str(l).unwrap();
            let folds = t["folds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            (t["params"].to_string(), folds)
        })
        .collect()
}

#[test]
fn two_research_workers_share_a_twelve_trial_search_each_trial_once_as_one_machine_scores_it() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    small_phantoms(&p("syn"), "3");
    std::fs::write(
        dir.path().join("base.toml"),
        "[model]\nname = \"small\"\ntask = \"binary\"\n[data]\nslices = 4\nsize = 32\n\
         [train]\nepochs = 1\n",
    )
    .unwrap();
    // 3 x 2 x 2 = 12 trials, each a two-fold cross-validation of a network.
    std::fs::write(
        dir.path().join("space.toml"),
        "path = \"network\"\nconfig = \"base.toml\"\n[search]\n\"optim.lr\" = [0.001, 0.003, 0.01]\n\
         \"optim.optimizer\" = [\"adam\", \"sgd\"]\n\"optim.weight_decay\" = [0.0, 0.0001]\n",
    )
    .unwrap();
    let search = |out: &str, extra: &[&str]| {
        let manifest = p("syn/manifest.csv");
        let space = p("space.toml");
        let out = p(out);
        let args = [
            &[
                "tune",
                "--manifest",
                &manifest,
                "--space",
                &space,
                "--folds",
                "2",
            ][..],
            &["--out", &out],
            extra,
        ]
        .concat();
        succeeded(cruciate(&args))
    };
    search("alone", &[]);
    let alone = trials(&dir.path().join("alone"));
    assert_eq!(alone.len(), 12);

    // The same search spread: this process only queues and waits; two workers run it.
    let db = pg.url();
    let workers = research_workers(&db, 2);
    let said = search("spread", &["--queue", &db, "--coordinate-only"]);
    for mut w in workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    assert!(said.contains("12 job(s) on the research queue"), "{said}");
    let rows = pg.query("SELECT worker, attempts, status FROM research_jobs");
    assert_eq!(rows.len(), 12, "{rows:?}");
    let mut by_worker = std::collections::BTreeMap::new();
    for row in &rows {
        let parts: Vec<&str> = row.split('|').collect();
        assert_eq!(
            parts[1..],
            ["1", "done"],
            "{row}: every trial ran exactly once"
        );
        *by_worker.entry(parts[0].to_string()).or_insert(0) += 1;
    }
    assert_eq!(
        by_worker.len(),
        2,
        "both workers took trials: {by_worker:?}"
    );
    let spread = trials(&dir.path().join("spread"));
    assert_eq!(
        spread, alone,
        "the spread search scores every trial as one machine does"
    );
    let best = |out: &str| std::fs::read_to_string(dir.path().join(out).join("best.toml")).unwrap();
    assert_eq!(best("spread"), best("alone"));
    assert!(dir.path().join("spread/best-run/run.json").is_file());

    // Started again with no worker left: every trial is found, none queued or run again.
    let again = search("spread", &["--queue", &db, "--coordinate-only"]);
    assert!(!again.contains("on the research queue"), "{again}");
    assert_eq!(trials(&dir.path().join("spread")), alone);
    assert_eq!(
        pg.query("SELECT count(*), max(attempts) FROM research_jobs"),
        ["12|1"]
    );
}

#[test]
fn two_research_workers_fit_the_folds_of_a_cross_validation_scored_as_on_one_machine() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    small_phantoms(&p("syn"), "5");
    let cv = |out: &str, extra: &[&str]| {
        let manifest = p("syn/manifest.csv");
        let out = p(out);
        let args = [
            &[
                "cv",
                "--manifest",
                &manifest,
                "--model",
                "small",
                "--epochs",
                "1",
            ][..],
            &[
                "--set",
                "data.size=32",
                "--set",
                "data.slices=4",
                "--folds",
                "4",
            ],
            &["--out", &out],
            extra,
        ]
        .concat();
        succeeded(cruciate(&args))
    };
    let alone = cv("alone", &[]);
    let db = pg.url();
    let workers = research_workers(&db, 2);
    let spread = cv("spread", &["--queue", &db, "--coordinate-only"]);
    for mut w in workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    assert!(
        spread.contains("4 job(s) on the research queue"),
        "{spread}"
    );
    let rows = pg.query("SELECT key, worker, attempts, status FROM research_jobs ORDER BY key");
    assert_eq!(rows.len(), 4, "{rows:?}");
    let workers: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.split('|').nth(1).unwrap()).collect();
    assert_eq!(workers.len(), 2, "both workers fitted folds: {rows:?}");
    for (k, row) in rows.iter().enumerate() {
        assert!(
            row.starts_with("cv/") && row.contains(&format!("/fold-{}|", k + 1)),
            "{row}"
        );
        assert!(row.ends_with("|1|done"), "{row}: each fold fitted once");
    }
    // Scored here from the workers' fits: the same figures, fold by fold, as one machine's.
    let figures = |said: &str| -> Vec<String> {
        said.lines()
            .filter(|l| l.contains("accuracy"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(figures(&spread).len(), 5, "{spread}");
    assert_eq!(figures(&spread), figures(&alone));
    let cv_json = |out: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(out).join("cv.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(cv_json("spread")["pooled"], cv_json("alone")["pooled"]);
}
