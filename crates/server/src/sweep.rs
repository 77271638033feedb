//! Cleaning up after a service process that died, when the next one opens the data folder:
//! jobs held by its dead workers go back to the queue at once (not when their lease runs out),
//! and exam folders that no exam row names (an upload cut off by the crash) are removed.
//!
//! A folder claimed by a received study still being assembled is kept (its assembly is
//! taken up again by the DICOM node).
//!
//! A worker's name starts with its host and process id (`HOST-PID-`), so that a process can
//! tell its own host's dead workers from live workers elsewhere; jobs of other hosts are left
//! to their leases. An exam folder is left alone while it may still be another live process's
//! upload: until nothing in it changed for the longest a probe can take plus a minute.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::ServerError;
use crate::context::ServiceContext;

/// This host's name (Linux), or `host` when it cannot be read.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// The start of this process's worker names: `HOST-PID-`.
pub(crate) fn worker_prefix() -> String {
    format!("{}-{}-", host(), std::process::id())
}

/// The process id in a worker name of this host, if it is one.
fn local_pid(worker: &str, host: &str) -> Option<u32> {
    worker
        .strip_prefix(host)?
        .strip_prefix('-')?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// True when `owner` (a worker name or its `HOST-PID-` prefix) was a process of this host
/// that no longer runs.
pub(crate) fn dead_here(owner: &str) -> bool {
    local_pid(owner, &host()).is_some_and(|pid| {
        pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// The newest modification time of `dir` and the files directly in it.
fn last_change(dir: &Path) -> Option<SystemTime> {
    let own = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    let files = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.chain([own]).max()
}

/// Cleans up after a dead process; see the module's doc.
pub(crate) async fn after_a_crash(ctx: &ServiceContext) -> Result<(), ServerError> {
    for worker in ctx.store.busy_workers().await? {
        if dead_here(&worker) {
            let n = ctx.store.recover_worker(&worker).await?;
            tracing::warn!("{n} job(s) of the stopped worker {worker} recovered");
        }
    }
    let exams = ctx.data().join("exams");
    let Ok(entries) = std::fs::read_dir(&exams) else {
        return Ok(());
    };
    let grace = Duration::from_secs(ctx.config.job_timeout_seconds + 60);
    // A received study being made an exam has its folder before its exam row.
    let assembling: Vec<String> = ctx
        .store
        .arrivals(0)
        .await?
        .into_iter()
        .filter_map(|a| a.claim.map(|c| c.exam_id))
        .collect();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let quiet = last_change(&entry.path())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > grace);
        if quiet && !assembling.contains(&id) && ctx.store.exam(&id, None).await?.is_none() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::warn!("removed {}: no exam names it", entry.path().display()),
                Err(e) => tracing::warn!("removing {}: {e}", entry.path().display()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_tell_their_host_and_process() {
        let name = format!("{}abc-0", worker_prefix());
        assert_eq!(local_pid(&name, &host()), Some(std::process::id()));
        assert_eq!(local_pid("otherhost-17-abc-0", &host()), None);
        assert_eq!(local_pid(&format!("{}-x-abc-0", host()), &host()), None);
        assert!(!dead_here(&name), "this process runs");
        assert!(dead_here(&format!("{}-{}-", host(), u32::MAX)));
        assert!(!dead_here(&format!("otherhost-{}-", u32::MAX)));
    }
}
