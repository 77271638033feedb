//! OHIF Viewer 3 beside the service (`[ohif]`): the files of the npm package `@ohif/app`
//! (its `dist` folder) served from the root of a port of their own, with an `app-config.js`
//! made here that points OHIF's DICOMweb data source at this service's `/dicomweb` (the studies
//! Cruciate holds, de-identified, with their SR, Segmentations and Secondary Captures). A
//! radiologist opens `http://HOST:OHIF_PORT/viewer?StudyInstanceUIDs=UID&token=TOKEN`: OHIF
//! sends the token as `Authorization: Bearer`, and `/dicomweb` answers OHIF's origin (CORS).
//! The embedded viewer stays the default; OHIF is an option for those who want it.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

use crate::ServerError;

/// OHIF's settings: this service's DICOMweb on port `http_port` of the host the browser
/// reached OHIF on.
pub fn app_config(http_port: u16) -> String {
    format!(
        r#"// Made by Cruciate: OHIF reads the studies Cruciate holds through its DICOMweb.
const cruciate = window.location.protocol + '//' + window.location.hostname + ':{http_port}/dicomweb';
window.config = {{
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  investigationalUseDialog: {{ option: 'never' }},
  defaultDataSourceName: 'cruciate',
  dataSources: [
    {{
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'cruciate',
      configuration: {{
        friendlyName: 'Cruciate (de-identified studies held; not for diagnostic use)',
        name: 'cruciate',
        wadoUriRoot: cruciate,
        qidoRoot: cruciate,
        wadoRoot: cruciate,
        qidoSupportsIncludeField: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: false,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        omitQuotationForMultipartRequest: true,
      }},
    }},
  ],
}};
"#
    )
}

/// OHIF's files in `folder` (any path it does not have answered with its `index.html`, as a
/// single-page application), and its settings for this service on `http_port`.
pub fn router(folder: &Path, http_port: u16) -> Router {
    let config = app_config(http_port);
    let files = ServeDir::new(folder).fallback(ServeFile::new(folder.join("index.html")));
    Router::new()
        .route(
            "/app-config.js",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    config,
                )
                    .into_response()
            }),
        )
        .fallback_service(files)
}

/// The cross-origin rule of `/dicomweb` for OHIF served on `ohif_port`: requests from a page of
/// that port (on any host name the browser used) may read its answers, with the caller's token.
pub fn cors(ohif_port: u16) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .ok()
                .and_then(|o| o.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
                == Some(ohif_port)
        }))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::ACCEPT, header::CONTENT_TYPE])
        .expose_headers([header::WARNING, header::CONTENT_TYPE])
}

/// Binds OHIF's listener on `ip` and the configured port, when OHIF is configured.
pub async fn bind(
    config: &crate::config::OhifConfig,
    ip: IpAddr,
) -> Result<Option<(tokio::net::TcpListener, SocketAddr)>, ServerError> {
    if config.folder.is_none() {
        return Ok(None);
    }
    let at = SocketAddr::new(ip, config.port);
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| ServerError::Config(format!("OHIF cannot listen on {at}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::io(Path::new("OHIF listener"), e))?;
    Ok(Some((listener, addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_point_ohif_at_this_services_dicomweb() {
        let js = app_config(8080);
        assert!(js.contains("':8080/dicomweb'"), "{js}");
        assert!(js.contains("qidoRoot: cruciate"));
        assert!(js.contains("defaultDataSourceName: 'cruciate'"));
    }
}
