//! What drift watching reads and writes: the recent exams' signals of a site and scanner, and
//! the alerts raised when they stop looking like a model's validation exams.

use sqlx::Row;

use super::{Store, now_ms};

/// The scanner group of exams whose headers name none.
pub const UNKNOWN_SCANNER: &str = "unknown";

/// One stream of exams watched for drift: a model's exams from one site and scanner.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema,
)]
pub struct Stream {
    /// The served model.
    pub model: String,
    /// The site.
    pub site: String,
    /// The scanner in one line ([`UNKNOWN_SCANNER`] when the headers name none).
    pub scanner: String,
}

/// A drift alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DriftAlert {
    /// Its number.
    pub id: i64,
    /// The stream it is about.
    #[serde(flatten)]
    pub stream: Stream,
    /// When it was raised, ms since the epoch.
    pub raised_ms: i64,
    /// When the stream looked like the reference again.
    pub cleared_ms: Option<i64>,
    /// The drifting signals in words.
    pub detail: String,
}

impl Store {
    /// Records that `stream` has analysed exams (once; later calls change nothing).
    pub async fn note_stream(&self, stream: &Stream) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO drift_streams (model, site, scanner) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&stream.model)
        .bind(&stream.site)
        .bind(&stream.scanner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every stream that has had analysed exams, in order.
    pub async fn drift_streams(&self) -> Result<Vec<Stream>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT model, site, scanner FROM drift_streams ORDER BY model, site, scanner",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Stream {
                    model: r.try_get("model")?,
                    site: r.try_get("site")?,
                    scanner: r.try_get("scanner")?,
                })
            })
            .collect()
    }

    /// The signals (JSON) of the last `window` analysed exams of `stream`, newest first (read
    /// through the `(model, site, scanner, finished_ms)` index; a `NULL` scanner is
    /// [`UNKNOWN_SCANNER`]).
    pub async fn drift_window(
        &self,
        stream: &Stream,
        window: usize,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT signals FROM exams WHERE model = $1 AND site = $2 \
             AND (scanner = $3 OR (scanner IS NULL AND $3 = 'unknown')) \
             AND status = 'done' AND signals IS NOT NULL ORDER BY finished_ms DESC LIMIT $4",
        )
        .bind(&stream.model)
        .bind(&stream.site)
        .bind(&stream.scanner)
        .bind(window as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| r.try_get("signals")).collect()
    }

    /// The open alert of `stream`, if any.
    pub async fn open_alert(&self, stream: &Stream) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query(
            "SELECT id FROM drift_alerts WHERE model = $1 AND site = $2 AND scanner = $3 \
             AND cleared_ms IS NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(&stream.model)
        .bind(&stream.site)
        .bind(&stream.scanner)
        .fetch_optional(self.pool())
        .await?
        .map(|r| r.try_get("id"))
        .transpose()
    }

    /// Raises an alert on `stream`; false when one is open already (another process raised
    /// it first: the database keeps one open alert per stream).
    pub async fn raise_alert(&self, stream: &Stream, detail: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO drift_alerts (site, scanner, model, raised_ms, detail) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&stream.site)
        .bind(&stream.scanner)
        .bind(&stream.model)
        .bind(now_ms())
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Clears alert `id`.
    pub async fn clear_alert(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE drift_alerts SET cleared_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The last `limit` alerts, newest first.
    pub async fn alerts(&self, limit: i64) -> Result<Vec<DriftAlert>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, site, scanner, model, raised_ms, cleared_ms, detail FROM drift_alerts \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DriftAlert {
                    id: r.try_get("id")?,
                    stream: Stream {
                        model: r.try_get("model")?,
                        site: r.try_get("site")?,
                        scanner: r.try_get("scanner")?,
                    },
                    raised_ms: r.try_get("raised_ms")?,
                    cleared_ms: r.try_get("cleared_ms")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_has_one_open_alert_whoever_raises_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let store = Store::open(&url).await.unwrap();
        let stream = Stream {
            model: "demo".into(),
            site: "north".into(),
            scanner: UNKNOWN_SCANNER.into(),
        };
        assert!(
            store
                .raise_alert(&stream, "intensity_median")
                .await
                .unwrap()
        );
        assert!(
            !store.raise_alert(&stream, "again").await.unwrap(),
            "one open alert"
        );
        let other = Stream {
            site: "south".into(),
            ..stream.clone()
        };
        assert!(store.raise_alert(&other, "structure").await.unwrap());
        let open = store.open_alert(&stream).await.unwrap().unwrap();
        store.clear_alert(open).await.unwrap();
        assert_eq!(store.open_alert(&stream).await.unwrap(), None);
        assert!(
            store.raise_alert(&stream, "later").await.unwrap(),
            "raised again once cleared"
        );
        assert_eq!(store.alerts(10).await.unwrap().len(), 3);
    }

    /// The report reads each stream's last exams by index: a site whose few exams are older
    /// than 25,000 of another's is still reported with its own window (the report once read
    /// only the service's newest 20,000 exams), and an unknown scanner is the stored `NULL`.
    #[tokio::test]
    async fn every_stream_is_reported_with_its_own_last_exams() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let store = Store::open(&url).await.unwrap();
        let insert = "INSERT INTO exams (id, site, uploaded_by, filename, model, status, \
            max_attempts, created_ms, finished_ms, scanner, signals) \
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
            SELECT $1 || '-' || i, $1, 'admin', 'x.zip', 'demo', 'done', 3, $4 + i, $4 + i, $2, \
            '{\"n\":' || i || '}' FROM n";
        for (site, scanner, count, from_ms) in [
            ("quiet", None, 3i64, 0i64),
            ("busy", Some("Acme 3T"), 25_000, 1_000_000),
        ] {
            sqlx::query(insert)
                .bind(site)
                .bind(scanner)
                .bind(count)
                .bind(from_ms)
                .execute(store.pool())
                .await
                .unwrap();
        }
        let quiet = Stream {
            model: "demo".into(),
            site: "quiet".into(),
            scanner: UNKNOWN_SCANNER.into(),
        };
        let busy = Stream {
            site: "busy".into(),
            scanner: "Acme 3T".into(),
            ..quiet.clone()
        };
        for stream in [&quiet, &busy, &quiet] {
            store.note_stream(stream).await.unwrap();
        }
        assert_eq!(
            store.drift_streams().await.unwrap(),
            [busy.clone(), quiet.clone()]
        );
        assert_eq!(
            store.drift_window(&quiet, 50).await.unwrap(),
            [r#"{"n":3}"#, r#"{"n":2}"#, r#"{"n":1}"#]
        );
        let window = store.drift_window(&busy, 50).await.unwrap();
        assert_eq!(window.len(), 50);
        assert_eq!(window[0], r#"{"n":25000}"#, "newest first");
    }
}
