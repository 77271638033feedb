//! A bounded pool of analyser processes ([`crate::analyser`]): the one place where an exam
//! crosses out of the server. Each analyser is a child process with a data-segment limit
//! (`RLIMIT_DATA`), killed with its parent, and given one job at a time under a timeout; it
//! keeps its models open between jobs. The pool holds at most `size` of them for any job, and
//! one place more that only intake may take (the probe of an upload, an instance received by
//! the DICOM node): an upload or a C-STORE is answered while its sender waits, and must not
//! queue behind minutes of analyses. So no more than `size + 1` decoders run at once. An
//! analyser is
//! replaced after a crash, after `jobs_per_analyser` jobs, or when its resident memory passes
//! `restart_above_bytes` (a reader's peak that the allocator keeps).
//!
//! A crafted upload that makes a decoder allocate gigabytes, overflow its stack or spin ends
//! one analyser only; the job's [`JobError`] says which of those it was from the exit status.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

use crate::job::{Answer, FailureKind, Job, JobError, Reply, Request};

/// How analysers are started and limited.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The program (`cruciate`); it is run as `PROGRAM FLAGS... analyse`.
    pub program: PathBuf,
    /// Flags put before `analyse` (the compute flags).
    pub flags: Vec<OsString>,
    /// Analysers at most.
    pub size: usize,
    /// Largest data segment of an analyser, bytes.
    pub memory_bytes: u64,
    /// Longest job.
    pub timeout: Duration,
    /// Jobs an analyser runs before it is replaced.
    pub jobs_per_analyser: u32,
    /// Resident memory past which an analyser is replaced after its job, bytes.
    pub restart_above_bytes: u64,
}

/// One running analyser.
struct Analyser {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    jobs: u32,
}

/// How a conversation with an analyser ended when it gave no reply.
enum Lost {
    /// It ended with this status.
    Ended(ExitStatus),
    /// It could not be spoken to.
    Broken(String),
}

/// The pool.
pub struct AnalyserPool {
    settings: PoolSettings,
    permits: Semaphore,
    /// The place kept for intake (probes and received instances).
    intake: Semaphore,
    idle: Mutex<Vec<Analyser>>,
    seq: AtomicU64,
    started: AtomicU64,
}

impl AnalyserPool {
    /// A pool that starts analysers as jobs come.
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            permits: Semaphore::new(settings.size.max(1)),
            intake: Semaphore::new(1),
            settings,
            idle: Mutex::new(Vec::new()),
            seq: AtomicU64::new(1),
            started: AtomicU64::new(0),
        }
    }

    /// Analysers started so far (restarts included).
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Runs `job` on an idle analyser (or a new one), waiting for a free place in the pool.
    pub async fn run(&self, job: Job) -> Result<Answer, JobError> {
        let place = match job {
            Job::Receive { .. } | Job::Probe { .. } => tokio::select! {
                p = self.permits.acquire() => p,
                p = self.intake.acquire() => p,
            },
            Job::Analyse { .. } => self.permits.acquire().await,
        };
        let _place = place
            .map_err(|_| JobError::new(FailureKind::Unavailable, "the service is stopping"))?;
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let mut analyser = match idle {
            Some(a) => a,
            None => self.spawn()?,
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let request = Request { seq, job };
        let asked = tokio::time::timeout(self.settings.timeout, analyser.ask(&request)).await;
        match asked {
            Err(_) => {
                let _ = analyser.child.start_kill();
                Err(JobError::new(
                    FailureKind::TimedOut,
                    format!(
                        "the analysis took longer than {} s and was stopped",
                        self.settings.timeout.as_secs()
                    ),
                ))
            }
            Ok(Err(lost)) => Err(self.lost(&mut analyser, lost).await),
            Ok(Ok(reply)) => {
                analyser.jobs += 1;
                if self.fit_for_more(&analyser) {
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(analyser);
                    }
                } else {
                    tracing::debug!("replacing an analyser after {} jobs", analyser.jobs);
                }
                reply.outcome
            }
        }
    }

    fn fit_for_more(&self, analyser: &Analyser) -> bool {
        if analyser.jobs >= self.settings.jobs_per_analyser {
            return false;
        }
        let mark = self.settings.restart_above_bytes;
        match analyser.child.id().and_then(resident_bytes) {
            Some(rss) if rss > mark => {
                if analyser.jobs == 1 {
                    tracing::warn!(
                        "an analyser holds {} MiB after its first job, above \
                         analyser_restart_bytes ({} MiB): it is replaced after every job and \
                         opens its model again each time; raise analyser_restart_bytes",
                        rss >> 20,
                        mark >> 20
                    );
                }
                false
            }
            _ => true,
        }
    }

    /// Why the job got no reply, from how its analyser ended.
    async fn lost(&self, analyser: &mut Analyser, lost: Lost) -> JobError {
        let status = match lost {
            Lost::Ended(status) => status,
            Lost::Broken(why) => {
                let _ = analyser.child.start_kill();
                match tokio::time::timeout(Duration::from_secs(5), analyser.child.wait()).await {
                    Ok(Ok(status)) => status,
                    _ => return JobError::new(FailureKind::Unavailable, why),
                }
            }
        };
        died(status, self.settings.memory_bytes)
    }

    fn spawn(&self) -> Result<Analyser, JobError> {
        let mut command = Command::new(&self.settings.program);
        command
            .args(&self.settings.flags)
            .arg("analyse")
            // Warnings reach the service's log: a fast engine that failed (out of the memory
            // allowance, say) and fell back to Burn is a slowdown the admin must be able to see.
            .env("CRUCIATE_LOG", "warn")
            // Few malloc arenas: the limit is on the data segment, and each arena reserves some.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let limit = self.settings.memory_bytes;
        // SAFETY: between fork and exec the closure only calls async-signal-safe functions
        // (setrlimit, prctl) and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit as libc::rlim_t,
                    rlim_max: limit as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The analyser dies with the process that started it (a server killed with -9
                // leaves no analysis running behind).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| {
            JobError::new(
                FailureKind::Unavailable,
                format!(
                    "the analyser could not be started: {}: {e}",
                    self.settings.program.display()
                ),
            )
        })?;
        self.started.fetch_add(1, Ordering::Relaxed);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(JobError::new(
                FailureKind::Unavailable,
                "the analyser has no pipes",
            ));
        };
        Ok(Analyser {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            jobs: 0,
        })
    }
}

impl Analyser {
    /// Sends `request` and waits for its reply; lines that are not its reply (anything a
    /// library printed) are passed to the log.
    async fn ask(&mut self, request: &Request) -> Result<Reply, Lost> {
        let mut line = serde_json::to_string(request).map_err(|e| Lost::Broken(e.to_string()))?;
        line.push('\n');
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            return Err(self.ended(format!("writing to the analyser: {e}")).await);
        }
        if let Err(e) = self.stdin.flush().await {
            return Err(self.ended(format!("writing to the analyser: {e}")).await);
        }
        // An analyser may die while something it started still holds its output open (a
        // wrapper script's pipeline): its exit counts as much as its output's end.
        loop {
            tokio::select! {
                biased;
                line = self.stdout.next_line() => match line {
                    Ok(Some(text)) => match serde_json::from_str::<Reply>(&text) {
                        Ok(reply) if reply.seq == request.seq => return Ok(reply),
                        _ => tracing::debug!("analyser said: {text}"),
                    },
                    Ok(None) => {
                        return Err(self.ended("the analyser closed its output".into()).await);
                    }
                    Err(e) => return Err(self.ended(format!("reading the analyser: {e}")).await),
                },
                status = self.child.wait() => {
                    return Err(match status {
                        Ok(status) => Lost::Ended(status),
                        Err(e) => Lost::Broken(format!("waiting for the analyser: {e}")),
                    });
                }
            }
        }
    }

    /// The analyser's exit status once its pipes broke (it is given a moment to end).
    async fn ended(&mut self, why: String) -> Lost {
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => Lost::Ended(status),
            _ => Lost::Broken(why),
        }
    }
}

/// The error for an analyser that ended with `status` before replying.
fn died(status: ExitStatus, memory_bytes: u64) -> JobError {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        // An allocation refused under RLIMIT_DATA aborts; a runaway recursion overflows the
        // stack; a decoder's bad read faults: each is the exam's doing.
        Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS) => JobError::new(
            FailureKind::OverLimits,
            format!(
                "the exam could not be read within the {} MiB an analysis may use \
                 (a file that expands too far, or a damaged one)",
                memory_bytes >> 20
            ),
        ),
        Some(signal) => JobError::new(
            FailureKind::Interrupted,
            format!("the analyser was stopped by signal {signal} before it finished"),
        ),
        None => JobError::new(
            FailureKind::Internal,
            format!("the analyser ended with {status} before it finished"),
        ),
    }
}

/// Resident memory of process `pid`, bytes (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool whose "analyser" is `/bin/sh -c SCRIPT analyse`: the script sees the request
    /// lines on its input.
    fn shell(script: &str, memory: u64, timeout: u64) -> AnalyserPool {
        AnalyserPool::new(PoolSettings {
            program: "/bin/sh".into(),
            flags: vec!["-c".into(), script.into()],
            size: 1,
            memory_bytes: memory,
            timeout: Duration::from_secs(timeout),
            jobs_per_analyser: 3,
            restart_above_bytes: 1 << 30,
        })
    }

    fn probe() -> Job {
        Job::Probe {
            input: "/nowhere".into(),
            decoded: None,
            deidentify: None,
            gate: None,
            plane_gates: Vec::new(),
        }
    }

    /// A shell analyser that answers every request with a bad-exam error naming its own pid.
    const ECHOING: &str = r#"while read -r line; do
        seq=$(printf '%s' "$line" | sed 's/.*"seq":\([0-9]*\).*/\1/')
        echo "a library's stray line"
        printf '{"seq":%s,"outcome":{"Err":{"kind":"bad_exam","message":"pid %s"}}}\n' "$seq" "$$"
    done"#;

    #[tokio::test]
    async fn analysers_are_kept_between_jobs_and_replaced_after_their_quota() {
        let pool = shell(ECHOING, 256 << 20, 10);
        let mut pids = Vec::new();
        for _ in 0..4 {
            let e = pool.run(probe()).await.unwrap_err();
            assert_eq!(e.kind, FailureKind::BadExam, "{e:?}");
            pids.push(e.message);
        }
        assert_eq!(pids[0], pids[1]);
        assert_eq!(pids[1], pids[2]);
        assert_ne!(pids[2], pids[3], "a new analyser after three jobs");
        assert_eq!(pool.started(), 2);
    }

    #[tokio::test]
    async fn how_an_analyser_died_decides_the_kind() {
        let killed = shell("read -r line; kill -KILL $$", 256 << 20, 10);
        let e = killed.run(probe()).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Interrupted, "{e:?}");
        assert!(e.kind.retry());
        let crashed = shell("read -r line; kill -SEGV $$", 256 << 20, 10);
        let e = crashed.run(probe()).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::OverLimits, "{e:?}");
        assert!(e.message.contains("256 MiB"), "{e}");
        let quit = shell("read -r line; exit 3", 256 << 20, 10);
        assert_eq!(
            quit.run(probe()).await.unwrap_err().kind,
            FailureKind::Internal
        );
        let slow = shell("read -r line; sleep 30", 256 << 20, 1);
        assert_eq!(
            slow.run(probe()).await.unwrap_err().kind,
            FailureKind::TimedOut
        );
        // The pool goes on with a fresh analyser after each of those.
        let missing = AnalyserPool::new(PoolSettings {
            program: "/nonexistent/cruciate".into(),
            ..killed.settings.clone()
        });
        assert_eq!(
            missing.run(probe()).await.unwrap_err().kind,
            FailureKind::Unavailable
        );
    }

    #[tokio::test]
    async fn the_memory_limit_holds_in_the_analyser() {
        // `head -c` into a shell variable grows the shell's heap past its allowance.
        let fill = |bytes: usize| {
            format!("read -r line; x=$(head -c {bytes} /dev/zero | tr '\\0' a); kill -KILL $$")
        };
        let small = shell(&fill(2_000_000), 64 << 20, 10);
        assert_eq!(
            small.run(probe()).await.unwrap_err().kind,
            FailureKind::Interrupted,
            "2 MB fit: the script went on to its own end"
        );
        let big = shell(&fill(200_000_000), 64 << 20, 10);
        let e = big.run(probe()).await.unwrap_err();
        assert_ne!(e.kind, FailureKind::Interrupted, "{e:?}");
    }

    /// A received instance and an upload's probe do not wait behind analyses holding every
    /// place of the pool; a second analysis does.
    #[tokio::test]
    async fn intake_has_a_place_while_analyses_fill_the_pool() {
        let pool = std::sync::Arc::new(shell(
            r#"while read -r line; do
                seq=$(printf '%s' "$line" | sed 's/.*"seq":\([0-9]*\).*/\1/')
                case "$line" in *'"analyse"'*) sleep 20 ;; esac
                printf '{"seq":%s,"outcome":{"Err":{"kind":"bad_exam","message":"done"}}}\n' "$seq"
            done"#,
            256 << 20,
            30,
        ));
        let analyse = || Job::Analyse {
            run: "/nowhere".into(),
            input: "/nowhere".into(),
            out: "/nowhere".into(),
        };
        let busy = pool.clone();
        let analysing = tokio::spawn(async move { busy.run(analyse()).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let receive = Job::Receive {
            input: "/nowhere".into(),
            out: "/nowhere".into(),
            expected: crate::deidentify::Expected {
                sop_class_uid: "1.2".into(),
                sop_instance_uid: "1.2.3".into(),
            },
            deid: crate::deidentify::Deidentification {
                profile: cruciate_deid::Profile::Basic,
                secret: "s".into(),
            },
        };
        let answered = tokio::time::timeout(Duration::from_secs(10), pool.run(receive)).await;
        assert!(answered.is_ok(), "the receive waited behind the analysis");
        let answered = tokio::time::timeout(Duration::from_secs(10), pool.run(probe())).await;
        assert!(answered.is_ok(), "the probe waited behind the analysis");
        let second = tokio::time::timeout(Duration::from_secs(1), pool.run(analyse())).await;
        assert!(second.is_err(), "a second analysis took the intake place");
        assert!(
            !analysing.is_finished(),
            "the analysis still held the pool's one place"
        );
        analysing.abort();
    }

    #[tokio::test]
    async fn the_flags_come_before_analyse() {
        let pool = shell(
            r#"read -r line; seq=$(printf '%s' "$line" | sed 's/.*"seq":\([0-9]*\).*/\1/')
            printf '{"seq":%s,"outcome":{"Err":{"kind":"bad_exam","message":"%s"}}}\n' "$seq" "$0""#,
            256 << 20,
            10,
        );
        assert_eq!(pool.run(probe()).await.unwrap_err().message, "analyse");
    }
}
