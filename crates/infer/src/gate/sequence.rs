//! What the headers say about how a series was acquired, against what the model reads: a
//! localiser or survey by its description, the weighting from EchoTime and RepetitionTime, fat
//! suppression from ScanOptions or the description, and the voxel spacing where the file gives
//! it.
//!
//! The weighting follows the usual spin-echo bounds (T1: TR under 1000 ms and TE under 30 ms;
//! PD: TR from 1000 ms and TE under 50 ms; T2: TR from 1000 ms and TE from 50 ms); other
//! combinations (gradient echo) are not named and not refused.

use cruciate_volume::Volume;
use cruciate_volume::dicom::{fat_suppressed_description, word_among};
use serde::{Deserialize, Serialize};

use super::{GateSettings, Reason, Rule};

/// An MR weighting a model may require (`run.json`'s `gate.weighting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// T1-weighted.
    T1,
    /// T2-weighted.
    T2,
    /// Proton-density-weighted.
    Pd,
}

impl Weighting {
    /// The weighting of a spin-echo series with these times, when they name one.
    pub fn of(te_ms: f64, tr_ms: f64) -> Option<Self> {
        match (tr_ms < 1000.0, te_ms) {
            (true, te) if te < 30.0 => Some(Weighting::T1),
            (false, te) if te < 50.0 => Some(Weighting::Pd),
            (false, _) => Some(Weighting::T2),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Weighting::T1 => "T1",
            Weighting::T2 => "T2",
            Weighting::Pd => "PD",
        }
    }
}

/// Whether the series is fat-suppressed, from ScanOptions (`FS`) or its description (FS, FAT
/// SAT, SPAIR, SPIR, STIR); `None` when the headers give neither.
pub fn fat_suppressed(exam: &Volume) -> Option<bool> {
    let meta = &exam.meta;
    if meta.scan_options.is_none() && meta.series_description.is_none() {
        return None;
    }
    let options = meta.scan_options.as_deref().unwrap_or("");
    let in_options = options
        .split(['\\', ' ', ','])
        .any(|o| o.eq_ignore_ascii_case("FS") || o.eq_ignore_ascii_case("FAT_SAT"));
    let in_description = meta
        .series_description
        .as_deref()
        .is_some_and(fat_suppressed_description);
    Some(in_options || in_description)
}

/// The sequence rules: a localiser's description, the weighting and fat suppression asked.
pub(super) fn sequence(exam: &Volume, settings: &GateSettings, reasons: &mut Vec<Reason>) {
    let meta = &exam.meta;
    if let Some(description) = meta.series_description.as_deref()
        && let Some(word) = word_among(description, &settings.localiser_words)
    {
        // The same words choose among a study's series (`cruciate_volume`'s reader): a
        // localiser is read only when a study has nothing else.
        reasons.push(Reason::new(
            Rule::Sequence,
            format!(
                "a {word} series (SeriesDescription {:?}), not a diagnostic one",
                description.trim()
            ),
        ));
    }
    if let (Some(wanted), Some(te), Some(tr)) = (
        settings.weighting,
        meta.echo_time_ms,
        meta.repetition_time_ms,
    ) && let Some(found) = Weighting::of(te, tr)
        && found != wanted
    {
        reasons.push(Reason::new(
            Rule::Sequence,
            format!(
                "{}-weighted (EchoTime {te} ms, RepetitionTime {tr} ms); the model reads {}",
                found.name(),
                wanted.name()
            ),
        ));
    }
    if let (Some(wanted), Some(found)) = (settings.fat_suppressed, fat_suppressed(exam))
        && wanted != found
    {
        let (is, reads) = if wanted {
            ("without", "with")
        } else {
            ("with", "without")
        };
        reasons.push(Reason::new(
            Rule::Sequence,
            format!("acquired {is} fat suppression; the model reads series {reads}"),
        ));
    }
}

/// The spacing rules, for files that give the spacing.
pub(super) fn spacing(exam: &Volume, settings: &GateSettings, reasons: &mut Vec<Reason>) {
    if !exam.meta.format.has_geometry() {
        return;
    }
    let [between, rows, cols] = exam.spacing;
    if between > settings.max_slice_spacing_mm {
        reasons.push(Reason::new(
            Rule::Spacing,
            format!(
                "slices {between:.1} mm apart; the model reads series of at most {} mm",
                settings.max_slice_spacing_mm
            ),
        ));
    }
    let pixel = rows.max(cols);
    if pixel > settings.max_in_plane_mm {
        reasons.push(Reason::new(
            Rule::Spacing,
            format!(
                "pixels of {pixel:.2} mm; the model reads pixels of at most {} mm",
                settings.max_in_plane_mm
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_volume::{Format, SourceMetadata};

    fn exam(description: &str) -> Volume {
        let mut meta = SourceMetadata::new(Format::Dicom, "test");
        meta.series_description = Some(description.into());
        let mut v = Volume::new(vec![0.0; 8], [2, 2, 2], meta).unwrap();
        v.spacing = [3.5, 0.4, 0.4];
        v
    }

    fn reasons(v: &Volume, settings: &GateSettings) -> Vec<String> {
        let mut out = Vec::new();
        sequence(v, settings, &mut out);
        spacing(v, settings, &mut out);
        out.into_iter().map(|r| r.text).collect()
    }

    #[test]
    fn localisers_other_weightings_and_coarse_spacing_are_named() {
        let settings = GateSettings::default();
        assert!(reasons(&exam("SAG PD FS"), &settings).is_empty());
        let survey = reasons(&exam("3-plane LOC"), &settings);
        assert_eq!(survey.len(), 1, "{survey:?}");
        assert!(survey[0].starts_with("a 3-plane series"), "{survey:?}");
        // Weighting and fat suppression only where the run asks for them.
        let mut t1 = exam("sag t1 tse");
        t1.meta.echo_time_ms = Some(12.0);
        t1.meta.repetition_time_ms = Some(550.0);
        assert!(reasons(&t1, &settings).is_empty());
        let pd_fs = GateSettings {
            weighting: Some(Weighting::Pd),
            fat_suppressed: Some(true),
            ..GateSettings::default()
        };
        let said = reasons(&t1, &pd_fs);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with("T1-weighted (EchoTime 12 ms"),
            "{said:?}"
        );
        assert!(said[1].contains("without fat suppression"), "{said:?}");
        let mut coarse = exam("SAG PD FS");
        coarse.spacing = [10.0, 4.0, 4.0];
        let said = reasons(&coarse, &settings);
        assert_eq!(said.len(), 2, "{said:?}");
        // Files without geometry are not judged on a spacing they do not have.
        coarse.meta.format = Format::Npy;
        assert!(reasons(&coarse, &settings).is_empty());
    }

    #[test]
    fn weightings_and_fat_suppression_read_from_the_headers() {
        assert_eq!(Weighting::of(12.0, 550.0), Some(Weighting::T1));
        assert_eq!(Weighting::of(30.0, 3000.0), Some(Weighting::Pd));
        assert_eq!(Weighting::of(90.0, 4000.0), Some(Weighting::T2));
        assert_eq!(Weighting::of(40.0, 500.0), None, "gradient echo: not named");
        let mut v = exam("sag pd");
        assert_eq!(fat_suppressed(&v), Some(false));
        v.meta.scan_options = Some("PFP\\FS".into());
        assert_eq!(fat_suppressed(&v), Some(true));
        assert_eq!(fat_suppressed(&exam("PD SPAIR sag")), Some(true));
        assert_eq!(fat_suppressed(&exam("Fat Sat PD")), Some(true));
        let mut none = exam("");
        none.meta.series_description = None;
        assert_eq!(fat_suppressed(&none), None);
    }
}
