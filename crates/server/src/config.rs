//! The service's settings: every flag of `cruciate serve` and `cruciate worker`, also readable
//! from a TOML file (`--config FILE`, flags win).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cruciate_dimse::Destination;
use serde::{Deserialize, Serialize};

use crate::ServerError;

/// Settings of a service process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// The data folder: database (SQLite), uploads, results, demo model.
    pub data: PathBuf,
    /// Database URL; SQLite in the data folder when absent, `postgres://...` for PostgreSQL.
    pub db: Option<String>,
    /// Run folders of the models served; the bundled demo model when empty. The first is the
    /// default for uploads.
    pub models: Vec<PathBuf>,
    /// Worker tasks in this process (0: this process only serves HTTP).
    pub workers: usize,
    /// Largest upload, bytes.
    pub max_upload_bytes: u64,
    /// HTTP connections open at once; past them, new connections wait to be accepted.
    pub max_connections: usize,
    /// Time an HTTP client has to send a request's head (and the next one, on a kept-alive
    /// connection), seconds.
    pub header_timeout_seconds: u64,
    /// Time a request body (an upload) may go without sending a byte before it ends with 408,
    /// seconds.
    pub body_idle_timeout_seconds: u64,
    /// How long a claimed job stays with its worker without a heartbeat, seconds.
    pub lease_seconds: u64,
    /// Attempts before a job whose worker keeps dying is failed.
    pub max_attempts: u32,
    /// Memory an analysis may use (the child process's data limit), bytes. It must hold the
    /// model and one exam: a VGG16-features run peaks at about 1.1 GB resident on 16 slices
    /// of 224x224, and below its need the fast engine fails and Burn computes instead, six times
    /// slower (logged as a warning).
    pub job_memory_bytes: u64,
    /// Time an analysis may take, seconds.
    pub job_timeout_seconds: u64,
    /// Synthetic exams analysed at the first start, so that a new worklist is not empty.
    pub seed_exams: usize,
    /// Analyser processes at most: uploads' probes and analyses together never decode more
    /// exams than this at once. Each keeps its models loaded between jobs.
    pub analysers: usize,
    /// Jobs an analyser process runs before it is replaced by a fresh one.
    pub jobs_per_analyser: u32,
    /// Resident memory past which an analyser process is replaced after its job, bytes: above
    /// what the served model holds (else every job opens the model again; logged), below
    /// `job_memory_bytes`.
    pub analyser_restart_bytes: u64,
    /// The analyser program (`cruciate analyse`, long-lived, jobs on its standard input); this
    /// executable when absent.
    pub analyser: Option<PathBuf>,
    /// Flags put before every analysis's own: the service's compute flags (`--device`,
    /// `--engine`, `--precision`), so that analyses run where the service was told to. Set by
    /// the program, not by the settings file.
    #[serde(skip)]
    pub analyser_flags: Vec<String>,
    /// Reverse proxies in front of the service: their `X-Forwarded-For` names the client in the
    /// audit log (anybody else's is ignored).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A localiser run: every model served sees only the ACL region it finds (`--roi auto`),
    /// each served as a cascade of the two; absent, models see whole exams.
    pub localiser: Option<PathBuf>,
    /// Voxels added around the found box before a model sees it: slices, rows, columns.
    pub roi_margin: [usize; 3],
    /// Who sees the patient's stored identity in the worklist and the viewer.
    pub identity: IdentityConfig,
    /// The DICOM node: storage SCP, de-identification, results sent back to the PACS.
    pub dicom: DicomConfig,
    /// How each site's recent exams are compared with the model's validation exams
    /// (`[drift]`: `window`, `min_exams`, `alpha`).
    pub drift: cruciate_infer::drift::DriftSettings,
    /// The FHIR server each analysed exam's report is posted to (`[fhir]`).
    pub fhir: FhirConfig,
    /// The PACS's DICOMweb root: studies found and retrieved for analysis, results stored
    /// back (`[dicomweb]`).
    pub dicomweb: DicomWebConfig,
    /// OHIF Viewer served beside the service, reading its DICOMweb (`[ohif]`).
    pub ohif: OhifConfig,
}

/// OHIF Viewer 3 served beside the service (`[ohif]` in the settings file): the built files of
/// the npm package `@ohif/app` (its `dist` folder, which the admin obtains once; nothing is
/// downloaded at run time), on a port of their own (OHIF's build expects to be served from an
/// origin's root), configured to read the studies Cruciate holds through its DICOMweb, the
/// caller's token handed over in the viewer's address (`?token=`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OhifConfig {
    /// The folder holding OHIF's `index.html`; none: no OHIF.
    pub folder: Option<PathBuf>,
    /// Its port, on the HTTP address's host (0: any free one, printed at start).
    pub port: u16,
}

/// A PACS reached by DICOMweb (`[dicomweb]` in the settings file): clinicians and admins find
/// a study on it (QIDO-RS) and have it analysed (WADO-RS retrieve into the intake); the
/// results of those exams go back to it by STOW-RS, through the retried, recorded sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DicomWebConfig {
    /// The PACS's DICOMweb root, `http://host[:port]/path` (Orthanc's: `/dicom-web`); none:
    /// no PACS search.
    #[serde(with = "option_text")]
    pub pacs: Option<crate::http_base::HttpBase>,
    /// A bearer token sent with each request; none: no `Authorization` header.
    pub token: Option<String>,
}

/// Results for the RIS or EHR (`[fhir]` in the settings file): each analysed exam's FHIR R4
/// DiagnosticReport posted to a FHIR server, through the same retried, recorded sends as the
/// DICOM results (`send_attempts`, `retry_seconds`, `timeout_seconds` of `[dicom]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirConfig {
    /// The server's base URL, `http://host[:port]/path`; reports go to `BASE/DiagnosticReport`.
    /// None: nothing is posted (the report is still at `GET /api/v1/exams/{id}/fhir`).
    #[serde(with = "option_text")]
    pub endpoint: Option<crate::http_base::HttpBase>,
    /// A bearer token sent with each post; none: no `Authorization` header.
    pub token: Option<String>,
}

/// An optional value kept as its text, parsed when the settings are read.
mod option_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(item: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match item {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Who sees the identity an exam arrived with (patient name, ID, birth date and sex, accession
/// number, study date), which the service keeps in its database only (`[identity]` in the
/// settings file). A radiologist confirms whose knee it is before reading; a research site may
/// show nobody.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Roles that see it at sites not listed in `sites`.
    pub roles: Vec<crate::store::Role>,
    /// Per site, the roles that see it there (an empty list: nobody).
    pub sites: std::collections::BTreeMap<String, Vec<crate::store::Role>>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            roles: vec![crate::store::Role::Admin, crate::store::Role::Clinician],
            sites: std::collections::BTreeMap::new(),
        }
    }
}

impl IdentityConfig {
    /// Whether `role` sees the identity of exams of `site`.
    pub fn shown(&self, site: &str, role: crate::store::Role) -> bool {
        self.sites.get(site).unwrap_or(&self.roles).contains(&role)
    }
}

/// Settings of the DICOM node (`[dicom]` in the settings file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DicomConfig {
    /// The port of the storage SCP, on the HTTP address's host; none: no DICOM node.
    pub port: Option<u16>,
    /// This node's AE title.
    pub ae_title: String,
    /// Calling AE titles allowed to send; empty allows any.
    pub allowed_callers: Vec<String>,
    /// A study becomes an exam when no instance arrived for this many seconds (Orthanc's
    /// StableAge).
    pub stable_after_seconds: u64,
    /// De-identification before storage: `basic` (PS3.15 Basic Profile), `basic-retain-dates`
    /// or `off`.
    pub deidentify: cruciate_deid::Profile,
    /// Where results (SR and Secondary Capture) are sent: `AE@host:port` each, parsed when the
    /// settings are read.
    #[serde(with = "as_text")]
    pub destinations: Vec<Destination>,
    /// Series descriptions preferred when a study brings several series (case-insensitive
    /// substrings, first match wins); then the sagittal PD/T2 fat-suppressed rule.
    pub series_preference: Vec<String>,
    /// The site exams received by DICOM belong to.
    pub site: String,
    /// Largest instance accepted, MiB.
    pub max_instance_mib: u64,
    /// Most data-set bytes the node holds at once from all its senders (received, not yet
    /// filed), MiB; an instance past it is refused with "out of resources" for the sender to
    /// retry.
    pub max_in_flight_mib: u64,
    /// How long the node waits on a peer, seconds.
    pub timeout_seconds: u64,
    /// Attempts at sending one exam's results to one destination.
    pub send_attempts: u32,
    /// Seconds before the first retry (doubled after each failure).
    pub retry_seconds: u64,
}

impl Default for DicomConfig {
    fn default() -> Self {
        Self {
            port: None,
            ae_title: "CRUCIATE".into(),
            allowed_callers: Vec::new(),
            stable_after_seconds: 10,
            deidentify: cruciate_deid::Profile::Basic,
            destinations: Vec::new(),
            series_preference: Vec::new(),
            site: crate::seed::DEFAULT_SITE.into(),
            max_instance_mib: 256,
            max_in_flight_mib: 1024,
            timeout_seconds: 30,
            send_attempts: 5,
            retry_seconds: 5,
        }
    }
}

/// A list of values written as their text in the settings file (`AE@host:port`), parsed once
/// when the file is read.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

impl ServerConfig {
    /// Where results go when sent on request: each DICOM destination, the PACS's DICOMweb
    /// root, the FHIR server.
    pub fn destinations(&self) -> Vec<crate::destination::ResultDestination> {
        use crate::destination::ResultDestination;
        self.dicom
            .destinations
            .iter()
            .cloned()
            .map(ResultDestination::Dicom)
            .chain(self.dicomweb.pacs.clone().map(ResultDestination::DicomWeb))
            .chain(self.fhir.endpoint.clone().map(ResultDestination::Fhir))
            .collect()
    }

    /// [`ServerConfig::destinations`] as text, as the API, the sends and the audit log show
    /// them (`AE@host:port`, `dicomweb:http://...`, `fhir:http://...`).
    pub fn destination_names(&self) -> Vec<String> {
        self.destinations()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

impl DicomConfig {
    fn validate(&self) -> Result<(), ServerError> {
        let title_ok = |t: &str| {
            !t.trim().is_empty()
                && t.len() <= 16
                && t.chars().all(|c| c.is_ascii_graphic() || c == ' ')
                && !t.contains('\\')
        };
        if !title_ok(&self.ae_title) {
            return Err(ServerError::Config(format!(
                "AE title {:?}: 1 to 16 printable characters, no backslash",
                self.ae_title
            )));
        }
        if let Some(bad) = self.allowed_callers.iter().find(|t| !title_ok(t)) {
            return Err(ServerError::Config(format!(
                "allowed caller {bad:?} is not an AE title"
            )));
        }
        if self.send_attempts == 0 || self.max_instance_mib == 0 || self.timeout_seconds == 0 {
            return Err(ServerError::Config(
                "dicom: send_attempts, max_instance_mib and timeout_seconds must be at least 1"
                    .into(),
            ));
        }
        if self.max_in_flight_mib < self.max_instance_mib {
            return Err(ServerError::Config(
                "dicom: max_in_flight_mib must be at least max_instance_mib".into(),
            ));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("cruciate-data"),
            db: None,
            models: Vec::new(),
            workers: 1,
            max_upload_bytes: 512 << 20,
            max_connections: 256,
            header_timeout_seconds: 10,
            body_idle_timeout_seconds: 30,
            lease_seconds: 30,
            max_attempts: 3,
            job_memory_bytes: 2 << 30,
            job_timeout_seconds: 300,
            seed_exams: 4,
            analysers: 2,
            jobs_per_analyser: 200,
            analyser_restart_bytes: 1536 << 20,
            analyser: None,
            analyser_flags: Vec::new(),
            trusted_proxies: Vec::new(),
            localiser: None,
            roi_margin: [2, 16, 16],
            identity: IdentityConfig::default(),
            dicom: DicomConfig::default(),
            drift: cruciate_infer::drift::DriftSettings::default(),
            fhir: FhirConfig::default(),
            dicomweb: DicomWebConfig::default(),
            ohif: OhifConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The settings of a TOML file (keys as the fields above), defaults for the rest.
    pub fn from_file(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        toml::from_str(&text)
            .map_err(|e| ServerError::Config(format!("{}: {}", path.display(), e.message())))
    }

    /// The database URL: the given one, or SQLite in the data folder.
    pub fn database_url(&self) -> String {
        self.db.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data.join("cruciate.db").display()
            )
        })
    }

    /// What the HTTP listener allows each client.
    pub fn http_limits(&self) -> crate::http::HttpLimits {
        crate::http::HttpLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_secs(self.header_timeout_seconds),
            body_idle_timeout: Duration::from_secs(self.body_idle_timeout_seconds),
        }
    }

    /// The lease a worker holds a job for.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(3))
    }

    /// Rejects settings no service can run with.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.dicom.validate()?;
        if let Some(folder) = &self.ohif.folder
            && !folder.join("index.html").is_file()
        {
            return Err(ServerError::Config(format!(
                "[ohif] folder {} holds no index.html: give the dist folder of the npm package \
                 @ohif/app (docs/service.md, \"OHIF Viewer\")",
                folder.display()
            )));
        }
        if self.max_attempts == 0 {
            return Err(ServerError::Config(
                "max_attempts must be at least 1".into(),
            ));
        }
        if self.analysers == 0 || self.jobs_per_analyser == 0 {
            return Err(ServerError::Config(
                "analysers and jobs_per_analyser must be at least 1".into(),
            ));
        }
        if self.max_connections == 0
            || self.header_timeout_seconds == 0
            || self.body_idle_timeout_seconds == 0
        {
            return Err(ServerError::Config(
                "max_connections, header_timeout_seconds and body_idle_timeout_seconds must be at least 1"
                    .into(),
            ));
        }
        let drift = &self.drift;
        if drift.min_exams < 5
            || drift.window < drift.min_exams
            || !(drift.alpha > 0.0 && drift.alpha < 1.0)
        {
            return Err(ServerError::Config(format!(
                "[drift]: min_exams must be at least 5, window at least min_exams, alpha within \
                 0..1 (got window {}, min_exams {}, alpha {})",
                drift.window, drift.min_exams, drift.alpha
            )));
        }
        if self.job_memory_bytes < 64 << 20 {
            return Err(ServerError::Config(
                "job_memory_bytes below 64 MiB leaves nothing to analyse with".into(),
            ));
        }
        if let Some(db) = &self.db
            && !(db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"))
        {
            return Err(ServerError::Config(format!(
                "--db {db:?}: expected sqlite:PATH or postgres://..."
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_sets_what_it_names_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "addr = \"127.0.0.1:9000\"\nworkers = 2\n").unwrap();
        let c = ServerConfig::from_file(&path).unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.workers, 2);
        assert_eq!(c.max_upload_bytes, 512 << 20);
        std::fs::write(&path, "wokers = 2\n").unwrap();
        let e = ServerConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("wokers"), "{e}");
        let bad = ServerConfig {
            db: Some("mysql://x".into()),
            ..ServerConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("postgres://")
        );
        assert!(
            ServerConfig::default()
                .database_url()
                .starts_with("sqlite://")
        );
    }

    #[test]
    fn a_fhir_server_is_parsed_when_read_and_https_refused_with_the_way_round() {
        let c: ServerConfig = toml::from_str(
            "[dicom]\ndestinations = [\"PACS@10.0.0.5:104\"]\n[fhir]\nendpoint = \"http://ehr:8090/fhir/\"\ntoken = \"t\"\n",
        )
        .unwrap();
        assert_eq!(
            c.destination_names(),
            ["PACS@10.0.0.5:104", "fhir:http://ehr:8090/fhir"]
        );
        assert_eq!(c.fhir.token.as_deref(), Some("t"));
        let again: ServerConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        let e = toml::from_str::<ServerConfig>("[fhir]\nendpoint = \"https://ehr/fhir\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS-terminating proxy"), "{e}");
        assert_eq!(ServerConfig::default().fhir.endpoint, None);
    }

    #[test]
    fn dicom_settings_are_checked() {
        let mut c: ServerConfig =
            toml::from_str("[dicom]\ndestinations = [\"PACS@10.0.0.5:104\"]\n").unwrap();
        assert_eq!(c.dicom.destinations[0].port, 104);
        assert_eq!(c.destination_names(), ["PACS@10.0.0.5:104"]);
        assert!(c.validate().is_ok());
        // A bad destination stops the settings file from being read at all.
        let e = toml::from_str::<ServerConfig>("[dicom]\ndestinations = [\"PACS\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AE@host:port"), "{e}");
        let again: ServerConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
        c.dicom.destinations.clear();
        c.dicom.ae_title = "A\\B".into();
        assert!(c.validate().is_err());
        c.dicom.ae_title = "SEVENTEEN_CHARS_X".into();
        assert!(c.validate().is_err());
        let parsed: ServerConfig =
            toml::from_str("[dicom]\nport = 11112\ndeidentify = \"basic-retain-dates\"\n").unwrap();
        assert_eq!(parsed.dicom.port, Some(11112));
        assert_eq!(
            parsed.dicom.deidentify,
            cruciate_deid::Profile::BasicRetainDates
        );
        assert!(toml::from_str::<ServerConfig>("[dicom]\nportt = 1\n").is_err());
    }

    #[test]
    fn the_example_file_names_every_setting_with_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/serve.toml");
        assert_eq!(
            ServerConfig::from_file(&path).unwrap(),
            ServerConfig::default()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let defaults = serde_json::to_value(ServerConfig::default()).unwrap();
        let mentions = |key: &str| {
            text.contains(&format!("\n{key} =")) || text.contains(&format!("\n# {key} ="))
        };
        for (key, value) in defaults.as_object().unwrap() {
            match value.as_object() {
                // A table: its header, and each of its keys.
                Some(table) => {
                    assert!(text.contains(&format!("\n[{key}]")), "no [{key}] table");
                    for inner in table.keys() {
                        assert!(
                            mentions(inner),
                            "configs/serve.toml does not mention {key}.{inner}"
                        );
                    }
                }
                None => assert!(mentions(key), "configs/serve.toml does not mention {key}"),
            }
        }
    }
}
