//! Where an exam's results go, parsed once from the settings and from the send rows: a PACS
//! by C-STORE, a PACS by DICOMweb STOW-RS, a FHIR server. Each is kept in the sends' table as
//! its text: `AE@host:port`, `dicomweb:http://...`, `fhir:http://...`.

use std::fmt;
use std::str::FromStr;

use crate::http_base::HttpBase;

/// One place results are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultDestination {
    /// The SR and Secondary Captures by C-STORE.
    Dicom(cruciate_dimse::Destination),
    /// The SR and Secondary Captures by STOW-RS to a DICOMweb root.
    DicomWeb(HttpBase),
    /// The FHIR DiagnosticReport by POST to a FHIR server.
    Fhir(HttpBase),
}

impl FromStr for ResultDestination {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(url) = text.strip_prefix("dicomweb:") {
            Ok(Self::DicomWeb(url.parse()?))
        } else if let Some(url) = text.strip_prefix("fhir:") {
            Ok(Self::Fhir(url.parse()?))
        } else {
            Ok(Self::Dicom(text.parse()?))
        }
    }
}

impl fmt::Display for ResultDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dicom(d) => write!(f, "{d}"),
            Self::DicomWeb(url) => write!(f, "dicomweb:{url}"),
            Self::Fhir(url) => write!(f, "fhir:{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_back_from_its_text() {
        for text in [
            "PACS@10.0.0.5:104",
            "dicomweb:http://pacs:8042/dicom-web",
            "fhir:http://ehr/fhir",
        ] {
            let d: ResultDestination = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
        assert!(
            "fhir:https://ehr/fhir"
                .parse::<ResultDestination>()
                .is_err()
        );
        assert!("http://ehr/fhir".parse::<ResultDestination>().is_err());
    }
}
