-- Crash-safe assembly of received studies: a quiet study is first claimed for the exam it will
-- become (that exam's id, who claimed it and when), and its row is deleted only once the exam is
-- recorded; a claim whose process died is taken up again with the same exam id. Kept in step
-- across backends.
ALTER TABLE dicom_arrivals ADD COLUMN exam_id TEXT;
ALTER TABLE dicom_arrivals ADD COLUMN claimed_by TEXT;
ALTER TABLE dicom_arrivals ADD COLUMN claimed_ms BIGINT;
