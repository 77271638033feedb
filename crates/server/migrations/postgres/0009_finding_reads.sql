-- A radiologist's read of each finding of a reading (abnormality, meniscal tear; the headline
-- finding's read stays in exams.read_grade): whether the finding is present, and whether that
-- agrees with the call. One row per exam and finding; a later read replaces it. Kept in step
-- across backends.
CREATE TABLE finding_reads (
    exam_id  TEXT NOT NULL REFERENCES exams (id) ON DELETE CASCADE,
    finding  TEXT NOT NULL,
    present  BIGINT NOT NULL CHECK (present IN (0, 1)),
    agrees   BIGINT NOT NULL CHECK (agrees IN (0, 1)),
    read_by  TEXT NOT NULL,
    read_ms  BIGINT NOT NULL,
    PRIMARY KEY (exam_id, finding)
);
