-- Drift: every stream (model, site, scanner) that has had an analysed exam, kept as exams are
-- analysed, so that the drift report reads each stream's last exams by index instead of
-- scanning the newest exams of the whole service. Kept in step across backends.
CREATE TABLE drift_streams (
    model   TEXT NOT NULL,
    site    TEXT NOT NULL,
    scanner TEXT NOT NULL,
    PRIMARY KEY (model, site, scanner)
);
INSERT INTO drift_streams (model, site, scanner)
    SELECT DISTINCT model, site, COALESCE(scanner, 'unknown') FROM exams
    WHERE status = 'done' AND signals IS NOT NULL;
