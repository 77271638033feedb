-- DICOM networking: the pseudonym map of de-identification, studies arriving by C-STORE, the
-- exams they became, and the results sent back to the PACS. Kept in step across backends.

-- Original UID -> its pseudonym (replacement), so that results re-link to the original study.
CREATE TABLE dicom_uids (
    original     TEXT PRIMARY KEY,
    replacement  TEXT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX dicom_uids_replacement ON dicom_uids (replacement);

-- The original identity (JSON) of each study, keyed by its stored (pseudonymous) StudyInstanceUID.
CREATE TABLE dicom_studies (
    study_uid   TEXT PRIMARY KEY,
    identity    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

-- Studies being received: a folder under incoming/ and the time its last instance arrived.
CREATE TABLE dicom_arrivals (
    folder      TEXT PRIMARY KEY,
    study_uid   TEXT NOT NULL,
    calling_ae  TEXT NOT NULL,
    instances   BIGINT NOT NULL,
    first_ms    BIGINT NOT NULL,
    last_ms     BIGINT NOT NULL
);

-- Exams that came by DICOM: where from, the series found (JSON) and the one analysed.
CREATE TABLE dicom_exams (
    exam_id        TEXT PRIMARY KEY REFERENCES exams (id) ON DELETE CASCADE,
    study_uid      TEXT NOT NULL,
    calling_ae     TEXT NOT NULL,
    chosen_series  TEXT,
    series         TEXT NOT NULL
);

-- Results to send to each destination, with retries.
CREATE TABLE dicom_sends (
    exam_id      TEXT NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    destination  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('waiting', 'sent', 'failed')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_ms      BIGINT NOT NULL,
    last_error   TEXT,
    sent_ms      BIGINT,
    PRIMARY KEY (exam_id, destination)
);
