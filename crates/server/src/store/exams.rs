//! Exams and their jobs: one row per upload, which is also its place in the queue (queued,
//! running under a lease, done, failed) and, once done, its result and the radiologist's read.
//!
//! Claiming is one `UPDATE ... RETURNING` whose subquery picks the oldest queued exam; SQLite
//! runs it under its single write lock, PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two workers
//! never take the same job. Only the worker holding a job's lease can finish it: a worker that
//! lost its lease (it stalled, the job was handed to another) finds its result refused.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, now_ms};

/// Where an exam is in its life as a job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it under a lease.
    Running,
    /// Analysed: its result is stored.
    Done,
    /// Refused or given up: its reason is stored.
    Failed,
}

impl JobStatus {
    /// Every state, in the order of a job's life.
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
    ];

    /// Its name in the database, the API and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, sqlx::Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown exam status {text:?}").into()))
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upload to queue.
#[derive(Debug, Clone)]
pub struct NewExam {
    /// Its id (also its folder's name under the data folder).
    pub id: String,
    /// The site it belongs to.
    pub site: String,
    /// The token (or process) that uploaded it.
    pub uploaded_by: String,
    /// The uploaded file's name.
    pub filename: String,
    /// The format the probe found.
    pub format: Option<String>,
    /// The model that is to analyse it.
    pub model: String,
    /// Its StudyInstanceUID as stored (de-identified), which keys the original identity.
    pub study_uid: Option<String>,
    /// The series read's description.
    pub series_description: Option<String>,
    /// The scanner it came from, in one line, when its headers say.
    pub scanner: Option<String>,
}

/// An exam as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExamRow {
    /// Its id.
    pub id: String,
    /// Its site.
    pub site: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// The uploaded file's name.
    pub filename: String,
    /// Its format.
    pub format: Option<String>,
    /// The model that analyses it.
    pub model: String,
    /// Where it is as a job.
    pub status: JobStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was uploaded, ms since the epoch.
    pub created_ms: i64,
    /// When its analysis ended.
    pub finished_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The result document (JSON), once done.
    pub result: Option<String>,
    /// The call's class.
    pub call_class: Option<i64>,
    /// The call's name.
    pub call_label: Option<String>,
    /// The probability of any injury.
    pub injured_probability: Option<f64>,
    /// The SHA-256 of the model that made the call.
    pub model_hash: Option<String>,
    /// The software that made it.
    pub software: Option<String>,
    /// Whether that model was trained on synthetic data.
    pub synthetic_model: Option<bool>,
    /// The radiologist's grade, once read.
    pub read_grade: Option<i64>,
    /// Whether the radiologist agreed with the call.
    pub read_agrees: Option<bool>,
    /// Who read it.
    pub read_by: Option<String>,
    /// When.
    pub read_ms: Option<i64>,
    /// Its StudyInstanceUID as stored (de-identified).
    pub study_uid: Option<String>,
    /// The series read's description.
    pub series_description: Option<String>,
    /// The input gate's reasons, when it abstained: the exam is done but not analysed, and no
    /// call is shown unless an admin had it shown.
    pub not_analysed: Option<String>,
    /// The admin who had the call on a not-analysed exam shown, outside the model's domain.
    pub shown_by: Option<String>,
    /// When.
    pub shown_ms: Option<i64>,
    /// The scanner it came from, in one line, when its headers say.
    pub scanner: Option<String>,
}

impl ExamRow {
    /// Whether the model's call on this exam may be shown: the gate accepted the exam, or an
    /// admin had the call shown anyway.
    pub fn call_shown(&self) -> bool {
        self.not_analysed.is_none() || self.shown_by.is_some()
    }
}

const COLUMNS: &str = "id, site, uploaded_by, filename, format, model, status, attempts, created_ms, \
    finished_ms, error, result, call_class, call_label, injured_probability, model_hash, software, \
    synthetic_model, read_grade, read_agrees, read_by, read_ms, study_uid, series_description, \
    not_analysed, shown_by, shown_ms, scanner";

fn exam(r: &AnyRow) -> Result<ExamRow, sqlx::Error> {
    let flag = |name: &str| -> Result<Option<bool>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(name)?.map(|v| v != 0))
    };
    Ok(ExamRow {
        id: r.try_get("id")?,
        site: r.try_get("site")?,
        uploaded_by: r.try_get("uploaded_by")?,
        filename: r.try_get("filename")?,
        format: r.try_get("format")?,
        model: r.try_get("model")?,
        status: JobStatus::parse(&r.try_get::<String, _>("status")?)?,
        attempts: r.try_get("attempts")?,
        created_ms: r.try_get("created_ms")?,
        finished_ms: r.try_get("finished_ms")?,
        error: r.try_get("error")?,
        result: r.try_get("result")?,
        call_class: r.try_get("call_class")?,
        call_label: r.try_get("call_label")?,
        injured_probability: r.try_get("injured_probability")?,
        model_hash: r.try_get("model_hash")?,
        software: r.try_get("software")?,
        synthetic_model: flag("synthetic_model")?,
        read_grade: r.try_get("read_grade")?,
        read_agrees: flag("read_agrees")?,
        read_by: r.try_get("read_by")?,
        read_ms: r.try_get("read_ms")?,
        study_uid: r.try_get("study_uid")?,
        series_description: r.try_get("series_description")?,
        not_analysed: r.try_get("not_analysed")?,
        shown_by: r.try_get("shown_by")?,
        shown_ms: r.try_get("shown_ms")?,
        scanner: r.try_get("scanner")?,
    })
}

/// A job a worker now holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// The exam.
    pub id: String,
    /// The model to analyse it with.
    pub model: String,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
}

/// A finished analysis.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The result document (JSON).
    pub result: String,
    /// The call's class and name, and the probability of any injury.
    pub call: Call,
    /// The input gate's reasons when it abstained (the call is then kept in the result
    /// document only, not in the worklist's columns).
    pub not_analysed: Option<String>,
    /// The model file's SHA-256.
    pub model_hash: Option<String>,
    /// The software that ran it.
    pub software: String,
    /// Whether the model was trained on synthetic data.
    pub synthetic_model: bool,
    /// The numbers watched for drift (JSON), when the analysis gave them.
    pub signals: Option<String>,
}

/// A model's call as the worklist's columns hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The class called.
    pub class: i64,
    /// Its name.
    pub label: String,
    /// The probability of any injury.
    pub injured_probability: f64,
}

/// A radiologist's read of an exam.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub struct Read {
    /// The grade they give, 0..3; when they agree with a call that names its grade (a graded
    /// model, or "healthy"), it may be left out and is the call's.
    pub grade: Option<u8>,
    /// Whether they agree with the model's call.
    pub agrees: bool,
}

impl Read {
    /// The grade this read records for a call of class `class` (a grade when `graded`, else
    /// 0 healthy / 1 injured), or why the read contradicts itself.
    pub fn grade_for(&self, class: usize, graded: bool) -> Result<u8, ReadConflict> {
        if let Some(g) = self.grade.filter(|&g| g > 3) {
            return Err(ReadConflict::NoSuchGrade(g));
        }
        let called = match (graded, class) {
            (true, c) => Some(c as u8),
            (false, 0) => Some(0),
            // A binary model's injured call names no grade.
            (false, _) => None,
        };
        match (self.agrees, self.grade, called) {
            (false, None, _) => Err(ReadConflict::DiffersWithoutGrade),
            (false, Some(g), _) => Ok(g),
            (true, None, Some(c)) => Ok(c),
            (true, None, None) => Err(ReadConflict::InjuredWithoutGrade),
            (true, Some(g), Some(c)) if g != c => {
                Err(ReadConflict::OtherGrade { read: g, called: c })
            }
            (true, Some(0), None) => Err(ReadConflict::HealthyAgreesWithInjured),
            (true, Some(g), _) => Ok(g),
        }
    }
}

/// Why a read cannot be recorded: it contradicts itself or the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadConflict {
    /// A grade outside 0..3.
    #[error("grade {0} is not 0..3")]
    NoSuchGrade(u8),
    /// Differing from the call without saying the grade.
    #[error("a read that differs from the call needs the grade read")]
    DiffersWithoutGrade,
    /// Agreeing with a binary model's injured call, which names no grade.
    #[error(
        "the model calls this exam injured without a grade: agreeing needs the grade read \
         (1 minor strain, 2 partial rupture, 3 complete rupture)"
    )]
    InjuredWithoutGrade,
    /// Agreeing, with a grade other than the call's.
    #[error("grade {read} does not agree with the call (grade {called}): record it as differing")]
    OtherGrade {
        /// The grade read.
        read: u8,
        /// The grade called.
        called: u8,
    },
    /// Agreeing with an injured call, with grade 0.
    #[error("grade 0 (healthy) does not agree with an injured call: record it as differing")]
    HealthyAgreesWithInjured,
}

/// What the worklist shows: filters, order and page.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct ExamFilter {
    /// Only exams in this state.
    pub status: Option<JobStatus>,
    /// Only exams called with this class.
    pub call_class: Option<i64>,
    /// Only exams uploaded at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only exams uploaded before this time.
    pub until_ms: Option<i64>,
    /// `newest` (default), `oldest` or `injured` (most probable injury first).
    pub sort: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Exams per page (default 50, at most 200).
    pub per_page: Option<i64>,
}

/// An argument of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

/// A query under construction: SQL text and its arguments, numbered as they are pushed.
struct Query {
    sql: String,
    args: Vec<Arg>,
}

impl Query {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Appends `clause`, its `?` standing for `arg`.
    fn push(&mut self, clause: &str, arg: Arg) {
        self.args.push(arg);
        self.sql += &clause.replace('?', &format!("${}", self.args.len()));
    }

    async fn fetch(self, store: &Store) -> Result<Vec<AnyRow>, sqlx::Error> {
        // Built from this module's constant clauses; every value is bound.
        let mut q = sqlx::query(AssertSqlSafe(self.sql));
        for arg in self.args {
            q = match arg {
                Arg::Text(t) => q.bind(t),
                Arg::Int(n) => q.bind(n),
            };
        }
        q.fetch_all(store.pool()).await
    }
}

impl Store {
    /// Queues `exam`.
    pub async fn insert_exam(&self, exam: &NewExam, max_attempts: u32) -> Result<(), sqlx::Error> {
        self.insert_exam_sending(exam, max_attempts, &[]).await
    }

    /// Queues exam `exam` and, in the same transaction, its results' sends to `destinations`
    /// (`AE@host:port` or a FHIR server's base URL): an exam is never queued without them.
    pub async fn insert_exam_sending(
        &self,
        exam: &NewExam,
        max_attempts: u32,
        destinations: &[String],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        Self::insert_row(
            &mut tx,
            exam,
            JobStatus::Queued,
            i64::from(max_attempts),
            None,
        )
        .await?;
        for d in destinations {
            Self::queue_send_on(&mut tx, &exam.id, d).await?;
        }
        tx.commit().await
    }

    /// Records an upload that could not be read as a failed exam, so that it shows with its
    /// reason.
    pub async fn insert_failed_exam(&self, exam: &NewExam, error: &str) -> Result<(), sqlx::Error> {
        self.insert(exam, JobStatus::Failed, 0, Some(error)).await
    }

    async fn insert(
        &self,
        exam: &NewExam,
        status: JobStatus,
        max_attempts: i64,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        Self::insert_row(&mut conn, exam, status, max_attempts, error).await
    }

    async fn insert_row(
        conn: &mut sqlx::AnyConnection,
        exam: &NewExam,
        status: JobStatus,
        max_attempts: i64,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO exams (id, site, uploaded_by, filename, format, model, study_uid, \
             series_description, status, max_attempts, created_ms, finished_ms, error, scanner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&exam.id)
        .bind(&exam.site)
        .bind(&exam.uploaded_by)
        .bind(&exam.filename)
        .bind(&exam.format)
        .bind(&exam.model)
        .bind(&exam.study_uid)
        .bind(&exam.series_description)
        .bind(status.as_str())
        .bind(max_attempts)
        .bind(now)
        .bind(error.map(|_| now))
        .bind(error)
        .bind(&exam.scanner)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The exams holding a DICOM study (`study_uid` set: the stored, de-identified UID), of
    /// `site` when given and of study `study_uid` when given, newest first: the studies
    /// DICOMweb lists.
    pub async fn dicom_studies(
        &self,
        study_uid: Option<&str>,
        site: Option<&str>,
        (limit, offset): (i64, i64),
    ) -> Result<Vec<ExamRow>, sqlx::Error> {
        let mut q = Query::new(&format!(
            "SELECT {COLUMNS} FROM exams WHERE study_uid IS NOT NULL AND format = 'dicom'"
        ));
        if let Some(uid) = study_uid {
            q.push(" AND study_uid = ?", Arg::Text(uid.into()));
        }
        if let Some(site) = site {
            q.push(" AND site = ?", Arg::Text(site.into()));
        }
        q.sql += " ORDER BY created_ms DESC, id DESC";
        q.push(" LIMIT ?", Arg::Int(limit.clamp(1, 1000)));
        q.push(" OFFSET ?", Arg::Int(offset.max(0)));
        q.fetch(self)
            .await?
            .iter()
            .map(exam)
            .collect::<Result<_, _>>()
    }

    /// Exam `id`, if it exists and (when `site` is given) belongs to that site.
    pub async fn exam(&self, id: &str, site: Option<&str>) -> Result<Option<ExamRow>, sqlx::Error> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM exams WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let exam = row.map(|r| exam(&r)).transpose()?;
        Ok(exam.filter(|e| site.is_none_or(|s| s == e.site)))
    }

    /// The worklist: exams matching `filter` (of `site` when given), and how many match.
    pub async fn exams(
        &self,
        filter: &ExamFilter,
        site: Option<&str>,
    ) -> Result<(Vec<ExamRow>, i64), sqlx::Error> {
        let conditions = |q: &mut Query| {
            if let Some(site) = site {
                q.push(" AND site = ?", Arg::Text(site.into()));
            }
            if let Some(status) = &filter.status {
                q.push(" AND status = ?", Arg::Text(status.as_str().into()));
            }
            if let Some(class) = filter.call_class {
                q.push(" AND call_class = ?", Arg::Int(class));
            }
            if let Some(since) = filter.since_ms {
                q.push(" AND created_ms >= ?", Arg::Int(since));
            }
            if let Some(until) = filter.until_ms {
                q.push(" AND created_ms < ?", Arg::Int(until));
            }
        };
        let mut count = Query::new("SELECT COUNT(*) AS n FROM exams WHERE 1 = 1");
        conditions(&mut count);
        let total: i64 = count.fetch(self).await?[0].try_get("n")?;
        let mut q = Query::new(&format!("SELECT {COLUMNS} FROM exams WHERE 1 = 1"));
        conditions(&mut q);
        q.sql += match filter.sort.as_deref() {
            Some("oldest") => " ORDER BY created_ms ASC, id ASC",
            Some("injured") => {
                " ORDER BY injured_probability IS NULL, injured_probability DESC, created_ms DESC"
            }
            _ => " ORDER BY created_ms DESC, id DESC",
        };
        let per_page = filter.per_page.unwrap_or(50).clamp(1, 200);
        let page = filter.page.unwrap_or(1).max(1);
        q.push(" LIMIT ?", Arg::Int(per_page));
        // A page past the end is empty (never an overflow back to the first).
        q.push(" OFFSET ?", Arg::Int((page - 1).saturating_mul(per_page)));
        let rows = q.fetch(self).await?;
        Ok((rows.iter().map(exam).collect::<Result<_, _>>()?, total))
    }

    /// Deletes exam `id`; false when there was none.
    pub async fn delete_exam(&self, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM exams WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the oldest queued job for `worker`, leased until `lease_until_ms`.
    pub async fn claim(
        &self,
        worker: &str,
        lease_until_ms: i64,
    ) -> Result<Option<ClaimedJob>, sqlx::Error> {
        let lock = self.claim_lock();
        let sql = format!(
            "UPDATE exams SET status = 'running', attempts = attempts + 1, lease_until_ms = $1, worker = $2, started_ms = $3 \
             WHERE status = 'queued' AND id = (SELECT id FROM exams WHERE status = 'queued' ORDER BY created_ms, id LIMIT 1{lock}) \
             RETURNING id, model, attempts"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_until_ms)
            .bind(worker)
            .bind(now_ms())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(ClaimedJob {
                id: r.try_get("id")?,
                model: r.try_get("model")?,
                attempt: r.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Extends `worker`'s lease on job `id`; false when the worker no longer holds it.
    pub async fn heartbeat(
        &self,
        id: &str,
        worker: &str,
        lease_until_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET lease_until_ms = $1 WHERE id = $2 AND worker = $3 AND status = 'running'",
        )
        .bind(lease_until_ms)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the result of job `id`; false when `worker` no longer holds it.
    pub async fn complete(
        &self,
        id: &str,
        worker: &str,
        f: &Finished,
    ) -> Result<bool, sqlx::Error> {
        let shown = f.not_analysed.is_none().then_some(&f.call);
        let done = sqlx::query(
            "UPDATE exams SET status = 'done', finished_ms = $1, result = $2, call_class = $3, call_label = $4, \
             injured_probability = $5, model_hash = $6, software = $7, synthetic_model = $8, error = NULL, lease_until_ms = NULL, \
             not_analysed = $9, shown_by = NULL, shown_ms = NULL, signals = $10 \
             WHERE id = $11 AND worker = $12 AND status = 'running'",
        )
        .bind(now_ms())
        .bind(&f.result)
        .bind(shown.map(|c| c.class))
        .bind(shown.map(|c| c.label.clone()))
        .bind(shown.map(|c| c.injured_probability))
        .bind(&f.model_hash)
        .bind(&f.software)
        .bind(i64::from(f.synthetic_model))
        .bind(&f.not_analysed)
        .bind(&f.signals)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Has the call on not-analysed exam `id` shown by admin `who`, outside the model's domain:
    /// the worklist's call columns filled from `call`. False when the exam is not a done,
    /// not-analysed one.
    pub async fn show_call(&self, id: &str, who: &str, call: &Call) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET shown_by = $1, shown_ms = $2, call_class = $3, call_label = $4, injured_probability = $5 \
             WHERE id = $6 AND status = 'done' AND not_analysed IS NOT NULL",
        )
        .bind(who)
        .bind(now_ms())
        .bind(call.class)
        .bind(&call.label)
        .bind(call.injured_probability)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks job `id` failed with `error`; false when `worker` no longer holds it.
    pub async fn fail(&self, id: &str, worker: &str, error: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET status = 'failed', finished_ms = $1, error = $2, lease_until_ms = NULL \
             WHERE id = $3 AND worker = $4 AND status = 'running'",
        )
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Job `id`'s attempt was interrupted through no fault of the exam (its analyser was
    /// killed): queued again while it has attempts left, else failed with `error`; false when
    /// `worker` no longer holds it.
    pub async fn retry(&self, id: &str, worker: &str, error: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET \
             status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
             finished_ms = CASE WHEN attempts < max_attempts THEN NULL ELSE $1 END, \
             error = $2, worker = NULL, lease_until_ms = NULL \
             WHERE id = $3 AND worker = $4 AND status = 'running'",
        )
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The workers holding running jobs.
    pub async fn busy_workers(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query(
            "SELECT DISTINCT worker FROM exams WHERE status = 'running' AND worker IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("worker"))
        .collect()
    }

    /// The jobs of a worker known to be dead, recovered now rather than when their lease
    /// runs out: queued again, or failed once they used their attempts. Returns how many.
    pub async fn recover_worker(&self, worker: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET \
             status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
             finished_ms = CASE WHEN attempts < max_attempts THEN NULL ELSE $1 END, \
             error = CASE WHEN attempts < max_attempts THEN error \
                     ELSE 'its worker stopped ' || attempts || ' times; given up' END, \
             worker = NULL, lease_until_ms = NULL \
             WHERE worker = $2 AND status = 'running'",
        )
        .bind(now_ms())
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts `worker`'s running jobs back in the queue (a graceful stop); returns how many.
    pub async fn release(&self, worker: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET status = 'queued', worker = NULL, lease_until_ms = NULL, attempts = attempts - 1 \
             WHERE worker = $1 AND status = 'running'",
        )
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Jobs whose worker stopped renewing its lease: queued again, or failed once they have
    /// used their attempts. Returns how many were requeued.
    pub async fn recover_expired(&self) -> Result<u64, sqlx::Error> {
        self.recover_expired_in(super::Leased::Exams).await
    }

    /// Records `who`'s read of exam `id`.
    pub async fn record_read(
        &self,
        id: &str,
        who: &str,
        grade: u8,
        agrees: bool,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE exams SET read_grade = $1, read_agrees = $2, read_by = $3, read_ms = $4 WHERE id = $5 AND status = 'done'",
        )
        .bind(i64::from(grade))
        .bind(i64::from(agrees))
        .bind(who)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Exams with a radiologist's read, oldest first (`cruciate export-reads`).
    pub async fn read_exams(&self) -> Result<Vec<ExamRow>, sqlx::Error> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM exams WHERE read_grade IS NOT NULL ORDER BY created_ms, id"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(exam)
        .collect()
    }

    /// Exams per state.
    pub async fn status_counts(&self) -> Result<Vec<(JobStatus, i64)>, sqlx::Error> {
        sqlx::query("SELECT status, COUNT(*) AS n FROM exams GROUP BY status")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok((
                    JobStatus::parse(&r.try_get::<String, _>("status")?)?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Done exams the input gate abstained on, and of those, the ones whose call an admin had
    /// shown.
    pub async fn not_analysed_counts(&self) -> Result<(i64, i64), sqlx::Error> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(shown_by) AS shown FROM exams \
             WHERE status = 'done' AND not_analysed IS NOT NULL",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((r.try_get("n")?, r.try_get("shown")?))
    }

    /// Upload-to-result times of the latest `limit` finished jobs, seconds.
    pub async fn latencies(&self, limit: i64) -> Result<Vec<f64>, sqlx::Error> {
        sqlx::query(
            "SELECT finished_ms - created_ms AS ms FROM exams WHERE status = 'done' AND finished_ms IS NOT NULL \
             ORDER BY finished_ms DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<i64, _>("ms")? as f64 / 1000.0))
        .collect()
    }

    /// Which worker ran each done exam (tests and operations).
    pub async fn workers_of_done(&self) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        sqlx::query("SELECT id, worker, attempts FROM exams WHERE status = 'done' ORDER BY id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get::<Option<String>, _>("worker")?
                        .unwrap_or_default(),
                    r.try_get("attempts")?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(grade: Option<u8>, agrees: bool) -> Read {
        Read { grade, agrees }
    }

    #[test]
    fn a_read_records_what_the_radiologist_said_never_a_default() {
        // A binary model's injured call (class 1): agreeing needs the grade read.
        assert!(read(None, true).grade_for(1, false).is_err());
        assert!(read(Some(0), true).grade_for(1, false).is_err());
        assert_eq!(read(Some(2), true).grade_for(1, false), Ok(2));
        // Its healthy call, and a graded model's call, name their grade.
        assert_eq!(read(None, true).grade_for(0, false), Ok(0));
        assert_eq!(read(None, true).grade_for(3, true), Ok(3));
        assert!(read(Some(1), true).grade_for(3, true).is_err());
        // A read that differs names its grade.
        assert!(read(None, false).grade_for(1, false).is_err());
        assert_eq!(read(Some(0), false).grade_for(1, false), Ok(0));
        assert!(read(Some(7), false).grade_for(1, false).is_err());
    }

    #[test]
    fn statuses_have_one_spelling() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!(JobStatus::parse("finished").is_err());
    }
}
