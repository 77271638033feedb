//! The first start of a fresh data folder: an admin token (printed once, kept in
//! `DATA/admin-token` with mode 0600) and a few synthetic phantom exams queued for analysis, so
//! that a newcomer's worklist is not empty.

use std::io::Write as _;
use std::path::Path;

use cruciate_data::phantom::Difficulty;
use cruciate_data::synth::{Balance, ExamFormat, SynthOptions, synthesize};

use crate::ServerError;
use crate::storage::ExamFiles;
use crate::store::{AuditEntry, NewExam, Role, Store, random_hex};

/// The site of the first admin and of the seeded exams.
pub const DEFAULT_SITE: &str = "default";

/// Makes the admin token when the database has none; returns its secret (shown once).
pub async fn ensure_admin(store: &Store, data: &Path) -> Result<Option<String>, ServerError> {
    if store.has_admin().await? {
        return Ok(None);
    }
    let (token, secret) = store
        .create_token("admin", Role::Admin, DEFAULT_SITE)
        .await?;
    let path = data.join("admin-token");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ServerError::io(&path, e))?;
        writeln!(file, "{secret}").map_err(|e| ServerError::io(&path, e))?;
    }
    store
        .audit(AuditEntry {
            token_id: Some(token.id),
            actor: "service".into(),
            action: "token.create".into(),
            detail: Some("the first admin token, at the first start".into()),
            ..AuditEntry::default()
        })
        .await?;
    Ok(Some(secret))
}

/// Queues `count` synthetic exams (one per grade in turn) when the data folder has never been
/// seeded; returns how many were queued.
pub async fn seed_exams(
    store: &Store,
    data: &Path,
    model: &str,
    count: usize,
    max_attempts: u32,
) -> Result<usize, ServerError> {
    let marker = data.join("seeded");
    if count == 0 || marker.exists() {
        return Ok(0);
    }
    let scratch = data.join("seed-phantoms");
    let options = SynthOptions {
        exams: count,
        seed: 20261127,
        size: 256,
        slices: (24, 30),
        format: ExamFormat::Npy,
        balance: Balance::Equal,
        difficulty: Difficulty::Easy,
        ..SynthOptions::default()
    };
    let made = {
        let scratch = scratch.clone();
        tokio::task::spawn_blocking(move || synthesize(&scratch, &options, &|| {}))
            .await
            .map_err(|e| ServerError::Config(format!("seeding: {e}")))?
            .map_err(|e| ServerError::Config(format!("seeding: {e}")))?
    };
    for (i, row) in made.rows.iter().enumerate() {
        let id = random_hex(12);
        let files = ExamFiles::new(data, &id);
        std::fs::create_dir_all(&files.dir).map_err(|e| ServerError::io(&files.dir, e))?;
        let target = files.upload_path("phantom.npy");
        std::fs::rename(made.resolve(row), &target).map_err(|e| ServerError::io(&target, e))?;
        let exam = NewExam {
            id,
            site: DEFAULT_SITE.into(),
            uploaded_by: "demo".into(),
            filename: format!("synthetic phantom {} (grade {}).npy", i + 1, row.label),
            format: Some("npy".into()),
            model: model.into(),
            study_uid: None,
            series_description: None,
            scanner: None,
        };
        store.insert_exam(&exam, max_attempts).await?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::write(&marker, b"synthetic demo exams queued at the first start\n")
        .map_err(|e| ServerError::io(&marker, e))?;
    Ok(made.rows.len())
}
