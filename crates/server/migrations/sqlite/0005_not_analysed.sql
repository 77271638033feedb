-- The input gate's reasons when it abstained on an exam (the exam is done but not analysed: no
-- call is shown), and the admin who had the call shown anyway, outside the model's domain, and
-- when. Kept in step across backends.
ALTER TABLE exams ADD COLUMN not_analysed TEXT;
ALTER TABLE exams ADD COLUMN shown_by TEXT;
ALTER TABLE exams ADD COLUMN shown_ms BIGINT;
