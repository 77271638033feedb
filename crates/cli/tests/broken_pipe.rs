//! Output piped into a program that stops reading ends the process quietly, as it ends `cat`
//! (`cruciate inspect X --json | head -c 10`). In a test binary of its own: tests running in
//! parallel would fork children that hold the pipe's read end open for a moment.

use std::process::Command;

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(["synth", "--out", dir.path().to_str().unwrap()])
        .args(["--exams", "1", "--size", "32", "--slices", "4..4"])
        .env("CRUCIATE_LOG", "off")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exam = dir.path().join("exams/sagittal/00000.npy");
    // `cruciate inspect EXAM --json | head -c 0`: the reader is gone before the first write.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cruciate"))
        .args(["inspect", "--json", exam.to_str().unwrap()])
        .env("CRUCIATE_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing on stderr"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "ended by SIGPIPE as cat would be: {:?}",
        out.status
    );
}
