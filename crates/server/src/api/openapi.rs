//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::Caller;

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Cruciate", description = "ACL grading of knee MRI. Not for diagnostic use."),
    paths(
        super::exams::upload,
        super::exams::list,
        super::exams::detail,
        super::exams::remove,
        super::exams::slice,
        super::exams::cam,
        super::reads::read,
        super::reads::read_finding,
        super::exams::show_call,
        super::exams::models,
        super::dicom::sr,
        super::fhir::report,
        super::dicomweb::store,
        super::dicomweb::search_studies,
        super::dicomweb::search_series,
        super::dicomweb::search_instances,
        super::dicomweb::retrieve_study,
        super::dicomweb::retrieve_series,
        super::dicomweb::retrieve_instance,
        super::dicomweb::study_metadata,
        super::dicomweb::series_metadata,
        super::dicomweb::instance_metadata,
        super::dicomweb::rendered_instance,
        super::dicomweb::retrieve_frames,
        super::pacs::search,
        super::pacs::analyse,
        super::dicom::sc,
        super::dicom::seg,
        super::dicom::status,
        super::dicom::send,
        super::admin::me,
        super::admin::create_token,
        super::admin::tokens,
        super::admin::revoke_token,
        super::admin::audit,
        super::admin::drift,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// Declares the bearer token every route asks for.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn document(_caller: Caller) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
