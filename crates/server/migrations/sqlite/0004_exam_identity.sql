-- The stored (de-identified) StudyInstanceUID of an exam, which keys the original identity kept
-- in dicom_studies, and the description of the series read: the worklist and the viewer show
-- whose knee it is to the roles allowed to see it. Kept in step across backends.
ALTER TABLE exams ADD COLUMN study_uid TEXT;
ALTER TABLE exams ADD COLUMN series_description TEXT;
