-- Drift: the scanner each exam came from (Manufacturer, ManufacturerModelName,
-- MagneticFieldStrength, in one line), the numbers watched of it (JSON), and the alerts raised
-- when a site's recent exams on one scanner stopped looking like the model's validation exams.
-- Kept in step across backends.
ALTER TABLE exams ADD COLUMN scanner TEXT;
ALTER TABLE exams ADD COLUMN signals TEXT;
CREATE TABLE drift_alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    site       TEXT NOT NULL,
    scanner    TEXT NOT NULL,
    model      TEXT NOT NULL,
    raised_ms  BIGINT NOT NULL,
    cleared_ms BIGINT,
    detail     TEXT NOT NULL
);
CREATE INDEX exams_drift_window ON exams (model, site, scanner, finished_ms);
-- One open alert per stream, whichever process raises it.
CREATE UNIQUE INDEX drift_alerts_open ON drift_alerts (site, scanner, model) WHERE cleared_ms IS NULL;
