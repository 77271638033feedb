//! Whose knee it is: the identity an exam arrived with, kept in the database only (the files
//! under the data folder are de-identified), shown beside the exam to the roles the site allows
//! ([`crate::config::IdentityConfig`]).

use serde::Serialize;

use super::{AppState, Caller};
use crate::ApiError;
use crate::store::ExamRow;

/// The patient and study an exam came from, as the sender named them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatientView {
    /// PatientName (DICOM person name, `FAMILY^GIVEN`).
    pub name: String,
    /// PatientID.
    pub id: String,
    /// PatientBirthDate, `YYYYMMDD`.
    pub birth_date: String,
    /// PatientSex.
    pub sex: String,
    /// AccessionNumber.
    pub accession_number: String,
    /// StudyDate, `YYYYMMDD`.
    pub study_date: String,
}

impl From<cruciate_deid::OriginalIdentity> for PatientView {
    fn from(o: cruciate_deid::OriginalIdentity) -> Self {
        Self {
            name: o.patient_name,
            id: o.patient_id,
            birth_date: o.patient_birth_date,
            sex: o.patient_sex,
            accession_number: o.accession_number,
            study_date: o.study_date,
        }
    }
}

/// The identity of `exam` when `caller` may see it and the service kept one (exams that
/// arrived as DICOM).
pub(super) async fn patient(
    state: &AppState,
    caller: &Caller,
    exam: &ExamRow,
) -> Result<Option<PatientView>, ApiError> {
    if !state.config.identity.shown(&exam.site, caller.token.role) {
        return Ok(None);
    }
    let Some(study) = &exam.study_uid else {
        return Ok(None);
    };
    let Some(json) = state.store.study_identity(study).await? else {
        return Ok(None);
    };
    let original: cruciate_deid::OriginalIdentity =
        serde_json::from_str(&json).map_err(ApiError::internal)?;
    Ok(Some(original.into()))
}
