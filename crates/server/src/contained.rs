//! Running the reader and the model where a fault cannot reach the server: a child process
//! (`cruciate analyse`) with a data-segment limit (`RLIMIT_DATA`), a timeout, and death with its
//! parent. A crafted upload that makes a decoder allocate gigabytes, overflow its stack or spin
//! ends that child only; the server answers with a one-line reason.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// How analyses are contained.
#[derive(Debug, Clone)]
pub struct Containment {
    /// The program (`cruciate`).
    pub program: PathBuf,
    /// Flags put before every run's arguments (the compute flags).
    pub flags: Vec<OsString>,
    /// Largest data segment of the child, bytes.
    pub memory_bytes: u64,
    /// Longest run.
    pub timeout: Duration,
}

/// Why a contained run gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainedError {
    /// The child refused the input with a one-line reason (the reader's, the model's).
    #[error("{0}")]
    Refused(String),
    /// The child died: out of its memory allowance, a crash in a decoder.
    #[error("the exam could not be read within the service's limits ({0})")]
    Crashed(String),
    /// The child ran past its time.
    #[error("the analysis took longer than {0} s and was stopped")]
    TimedOut(u64),
    /// The child could not be started.
    #[error("the analyser could not be started: {0}")]
    Spawn(String),
}

impl ContainedError {
    /// True when the input is at fault (and retrying will not help).
    pub fn is_input(&self) -> bool {
        !matches!(self, ContainedError::Spawn(_))
    }
}

impl Containment {
    /// Reads the exam at `path` in a child (`cruciate analyse --probe`) and says what it is.
    pub async fn probe(
        &self,
        path: &std::path::Path,
    ) -> Result<crate::analysis::Probe, ContainedError> {
        let out = self
            .run(&[
                "analyse".into(),
                "--probe".into(),
                "--input".into(),
                path.into(),
            ])
            .await?;
        serde_json::from_str(&out)
            .map_err(|e| ContainedError::Crashed(format!("probe answer: {e}")))
    }

    /// Runs the analyser with `args`; its standard output when it succeeds.
    pub async fn run(&self, args: &[OsString]) -> Result<String, ContainedError> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.flags)
            .args(args)
            .env("CRUCIATE_LOG", "error")
            // Few malloc arenas: the limit is on the data segment, and each arena reserves some.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let limit = self.memory_bytes;
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
                // The child dies with the process that started it (a server killed with -9
                // leaves no analysis running behind).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| ContainedError::Spawn(format!("{}: {e}", self.program.display())))?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| ContainedError::Spawn(e.to_string()))?,
            Err(_) => return Err(ContainedError::TimedOut(self.timeout.as_secs())),
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("cruciate: error: "))
            .map(str::to_string);
        match (output.status.code(), reason) {
            (Some(2), Some(reason)) if !reason.starts_with("internal error") => {
                Err(ContainedError::Refused(reason))
            }
            (_, reason) => {
                use std::os::unix::process::ExitStatusExt;
                let why = match (output.status.signal(), reason) {
                    (Some(libc::SIGABRT), _) | (Some(libc::SIGSEGV), _) => {
                        "the analysis ran out of memory or crashed".to_string()
                    }
                    (Some(signal), _) => format!("the analysis was killed by signal {signal}"),
                    (None, Some(reason)) => reason,
                    (None, None) => format!("the analysis ended with {}", output.status),
                };
                Err(ContainedError::Crashed(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(memory: u64, timeout: u64) -> Containment {
        Containment {
            program: "/bin/sh".into(),
            flags: Vec::new(),
            memory_bytes: memory,
            timeout: Duration::from_secs(timeout),
        }
    }

    fn args(script: &str) -> Vec<OsString> {
        vec!["-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_flags_come_before_each_runs_arguments() {
        let containment = Containment {
            flags: args(r#"printf '%s|%s' "$0" "$1""#),
            ..sh(1 << 30, 10)
        };
        let out = containment
            .run(&["analyse".into(), "--probe".into()])
            .await
            .unwrap();
        assert_eq!(out, "analyse|--probe");
    }

    #[tokio::test]
    async fn outcomes_are_sorted_by_cause() {
        let c = sh(256 << 20, 5);
        assert_eq!(c.run(&args("echo ok")).await.unwrap(), "ok\n");
        assert_eq!(
            c.run(&args(
                "echo 'cruciate: error: bad.dcm: truncated' >&2; exit 2"
            ))
            .await,
            Err(ContainedError::Refused("bad.dcm: truncated".into()))
        );
        let crashed = c.run(&args("kill -SEGV $$")).await.unwrap_err();
        assert!(matches!(crashed, ContainedError::Crashed(_)), "{crashed:?}");
        let slow = sh(256 << 20, 1);
        assert_eq!(
            slow.run(&args("sleep 5")).await,
            Err(ContainedError::TimedOut(1))
        );
    }

    #[tokio::test]
    async fn the_memory_limit_holds_in_the_child() {
        // Python is not needed: `head -c` into a shell variable grows the shell's heap.
        let c = sh(64 << 20, 10);
        let fill = |bytes: usize| {
            args(&format!(
                "x=$(head -c {bytes} /dev/zero | tr '\\0' a); echo ${{#x}}"
            ))
        };
        assert_eq!(c.run(&fill(2_000_000)).await.unwrap(), "2000000\n");
        let e = c.run(&fill(200_000_000)).await.unwrap_err();
        assert!(
            matches!(e, ContainedError::Crashed(_) | ContainedError::Refused(_)),
            "{e:?}"
        );
    }
}
