//! The gate's rules and their settings.

use cruciate_volume::{Format, Plane, Study, Volume};
use serde::{Deserialize, Serialize};

use super::content::{constant_value, neighbour_correlation, non_finite};
use super::sequence::Weighting;
use super::{DomainReference, Reason, Rule, Verdict};
use crate::RunInfo;

/// The rules a run's exams must meet: `run.json`'s `gate`, each field defaulting to what the
/// study's models need (a sagittal MR series of square-ish slices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateSettings {
    /// The plane the model reads; exams whose headers say another plane are refused.
    pub plane: Plane,
    /// The DICOM Modality the model reads; exams whose headers say another are refused.
    pub modality: String,
    /// Fewest slices an exam may have; by default half of the slices the model reads, at
    /// least 2 and at most [`DEFAULT_MIN_SLICES_CAP`].
    pub min_slices: Option<usize>,
    /// Fewest rows and columns a slice may have.
    pub min_in_plane: usize,
    /// Largest ratio of a slice's longer side to its shorter (a knee slice is square or
    /// nearly: rectangular fields of view reach about 1.7).
    pub max_aspect: f64,
    /// Smallest correlation of neighbouring voxels (MR images: above 0.8; noise: about 0).
    pub min_structure: f64,
    /// Words of a SeriesDescription that mark a series no model reads (localisers, surveys).
    pub localiser_words: Vec<String>,
    /// The weighting the model reads, checked where EchoTime and RepetitionTime are given;
    /// `None`: any.
    pub weighting: Option<Weighting>,
    /// Whether the model reads fat-suppressed series (or not), checked where ScanOptions or
    /// the description say; `None`: either.
    pub fat_suppressed: Option<bool>,
    /// Largest distance between slices, mm (knee protocols: 3 to 4).
    pub max_slice_spacing_mm: f64,
    /// Largest pixel, mm (knee protocols: 0.3 to 0.7).
    pub max_in_plane_mm: f64,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            plane: Plane::Sagittal,
            modality: "MR".into(),
            min_slices: None,
            min_in_plane: 32,
            max_aspect: 2.0,
            min_structure: 0.3,
            localiser_words: cruciate_volume::dicom::LOCALISER_WORDS
                .map(String::from)
                .to_vec(),
            weighting: None,
            fat_suppressed: None,
            max_slice_spacing_mm: 8.0,
            max_in_plane_mm: 3.0,
        }
    }
}

/// The most slices the default slice rule asks for. What a model "reads" is a cap on the
/// central slices it takes (MRNet's recipe says 64 for "every slice"), pooled over however
/// many there are; half of it would refuse MRNet's own exams (17 to 51 sagittal slices). A
/// knee series of 3-4 mm slices has 20 to 45; the scouts the rule is for have 3 to 5.
pub const DEFAULT_MIN_SLICES_CAP: usize = 12;

/// A run's gate: its settings, what the model reads, and the training exams' features where
/// the run holds them. It travels as JSON (to a service's analysers, which choose an upload's
/// series with it) without the reference, which stays with the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    settings: GateSettings,
    /// Slices the model reads, when its input preparation says.
    reads: Option<usize>,
    /// How unlike the training exams an exam may be.
    #[serde(skip)]
    reference: Option<DomainReference>,
}

impl Gate {
    /// The gate of the run `info` describes: its `gate` settings (defaults when absent), and
    /// the slices its input preparation reads.
    pub fn for_run(info: &RunInfo) -> Self {
        Self {
            settings: info.gate.clone().unwrap_or_default(),
            reads: info.input.as_ref().map(|i| i.slices),
            reference: None,
        }
    }

    /// The plane the model reads.
    pub fn plane(&self) -> cruciate_volume::Plane {
        self.settings.plane
    }

    /// The same gate, also refusing exams unlike the training exams of `reference`.
    pub fn with_reference(mut self, reference: Option<DomainReference>) -> Self {
        self.reference = reference;
        self
    }

    /// The training exams' reference, when the run has one.
    pub fn reference(&self) -> Option<&DomainReference> {
        self.reference.as_ref()
    }

    /// Why an exam with pooled features `features` is refused as unlike the training exams
    /// (`None` when it is not, when the run has no reference, or without features).
    pub fn unlike(&self, features: &[f32]) -> Option<Reason> {
        let reference = self.reference.as_ref()?;
        let score = self.domain_score(features)?;
        (score > reference.limit).then(|| {
            Reason::new(
                Rule::Unlike,
                format!(
                    "unlike the training exams: score {score:.3}, limit {:.3}",
                    reference.limit
                ),
            )
        })
    }

    /// How unlike the training exams an exam with pooled features `features` is (`None`
    /// without a reference or features).
    pub fn domain_score(&self, features: &[f32]) -> Option<f64> {
        let reference = self.reference.as_ref()?;
        if features.is_empty() {
            return None;
        }
        let score = reference.score(features);
        tracing::debug!(score, limit = reference.limit, "domain score");
        Some(score)
    }

    /// The settings.
    pub fn settings(&self) -> &GateSettings {
        &self.settings
    }

    /// Fewest slices an exam may have.
    pub fn min_slices(&self) -> usize {
        self.settings
            .min_slices
            .unwrap_or_else(|| {
                self.reads
                    .map_or(2, |n| n.div_ceil(2).min(DEFAULT_MIN_SLICES_CAP))
            })
            .max(2)
    }

    /// The series of `study` this gate's model reads: the one named `series_uid` when given,
    /// else the most suitable series of the model's plane that the rules accept (the study's
    /// order of preference, each candidate checked in turn); when none passes, the most
    /// suitable one, on which the gate will abstain. The volume's notes say why each other
    /// series was not read, the gate's reasons among them.
    pub fn choose(
        &self,
        study: Study,
        series_uid: Option<&str>,
    ) -> Result<Volume, cruciate_volume::ReadError> {
        study.choose(self.settings.plane, series_uid, &mut |volume| {
            let verdict = self.check(volume);
            if verdict.is_accepted() {
                Ok(())
            } else {
                Err(verdict.summary())
            }
        })
    }

    /// The verdict on `exam`: every rule checked, every failed one a reason.
    pub fn check(&self, exam: &Volume) -> Verdict {
        let mut reasons = Vec::new();
        self.headers(exam, &mut reasons);
        super::sequence::sequence(exam, &self.settings, &mut reasons);
        self.geometry(exam, &mut reasons);
        super::sequence::spacing(exam, &self.settings, &mut reasons);
        self.content(exam, &mut reasons);
        Verdict::from_reasons(reasons)
    }

    /// What the file's headers say: modality and plane.
    fn headers(&self, exam: &Volume, reasons: &mut Vec<Reason>) {
        let wanted = &self.settings.modality;
        if let Some(modality) = exam.meta.modality.as_deref()
            && !modality.trim().eq_ignore_ascii_case(wanted)
        {
            reasons.push(Reason::new(
                Rule::Modality,
                format!(
                    "modality {} (DICOM Modality); the model reads {wanted}",
                    modality.trim()
                ),
            ));
        }
        let plane = exam.plane;
        if !matches!(plane, Plane::Unknown) && plane != self.settings.plane {
            let source = match exam.meta.format {
                Format::Dicom => "ImageOrientationPatient",
                Format::Nifti1 | Format::Nifti2 => "the NIfTI affine",
                _ => "the file's orientation",
            };
            reasons.push(Reason::new(
                Rule::Plane,
                format!(
                    "{plane} plane ({source}); the model reads {}",
                    self.settings.plane
                ),
            ));
        }
    }

    /// Slice count and slice shape, for every format.
    fn geometry(&self, exam: &Volume, reasons: &mut Vec<Reason>) {
        let [slices, rows, cols] = exam.shape;
        let least = self.min_slices();
        if slices < least {
            let needs = match self.reads {
                Some(n) => format!("the model reads {n}"),
                None => format!("at least {least} needed"),
            };
            let noun = if slices == 1 { "slice" } else { "slices" };
            reasons.push(Reason::new(
                Rule::Slices,
                format!("{slices} {noun}; {needs}"),
            ));
        }
        let (short, long) = (rows.min(cols), rows.max(cols));
        let floor = self.settings.min_in_plane;
        if short < floor {
            reasons.push(Reason::new(
                Rule::Shape,
                format!(
                    "slices of {rows}x{cols}; the model reads slices of at least {floor}x{floor}"
                ),
            ));
        } else if long as f64 / short as f64 > self.settings.max_aspect {
            reasons.push(Reason::new(
                Rule::Shape,
                format!(
                    "slices of {rows}x{cols} (aspect {:.1}); a knee slice is nearly square",
                    long as f64 / short as f64
                ),
            ));
        }
    }

    /// Whether the voxels hold an image.
    fn content(&self, exam: &Volume, reasons: &mut Vec<Reason>) {
        let bad = non_finite(exam);
        if bad > 0 {
            reasons.push(Reason::new(
                Rule::Content,
                format!("{bad} voxels are NaN or infinite"),
            ));
            return;
        }
        if let Some(value) = constant_value(exam) {
            reasons.push(Reason::new(
                Rule::Content,
                format!("every voxel is {value}: no image"),
            ));
            return;
        }
        let floor = self.settings.min_structure;
        match neighbour_correlation(exam) {
            Some(r) if r < floor => reasons.push(Reason::new(
                Rule::Content,
                format!(
                    "no image structure: neighbouring voxels correlate at {r:.2}, images at over {floor}"
                ),
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_data::Task;
    use cruciate_prep::InputConfig;
    use cruciate_volume::SourceMetadata;

    fn exam(shape: [usize; 3], format: Format) -> Volume {
        let [s, r, c] = shape;
        let data = (0..s * r * c)
            .map(|i| ((i % c) as f32 / c as f32) * 100.0 + ((i / c) % r) as f32)
            .collect();
        Volume::new(data, shape, SourceMetadata::new(format, "test")).unwrap()
    }

    fn gate(reads: usize) -> Gate {
        let mut info = RunInfo::new("network", Task::Binary, "test");
        info.input = Some(InputConfig {
            slices: reads,
            ..InputConfig::default()
        });
        Gate::for_run(&info)
    }

    fn rules(v: &Verdict) -> Vec<Rule> {
        v.reasons().iter().map(|r| r.rule).collect()
    }

    #[test]
    fn a_sagittal_mr_exam_of_enough_slices_is_accepted() {
        let mut e = exam([20, 64, 64], Format::Dicom);
        e.plane = Plane::Sagittal;
        e.meta.modality = Some("MR".into());
        assert_eq!(gate(16).check(&e), Verdict::Accepted);
        // No header at all (MRNet's .npy): only the voxel rules apply.
        assert_eq!(
            gate(16).check(&exam([20, 64, 64], Format::Npy)),
            Verdict::Accepted
        );
    }

    #[test]
    fn each_rule_gives_its_reason_in_words() {
        let mut e = exam([7, 64, 64], Format::Dicom);
        e.plane = Plane::Coronal;
        e.meta.modality = Some("CT".into());
        let v = gate(16).check(&e);
        assert_eq!(rules(&v), [Rule::Modality, Rule::Plane, Rule::Slices]);
        assert_eq!(
            v.summary(),
            "modality CT (DICOM Modality); the model reads MR; coronal plane \
             (ImageOrientationPatient); the model reads sagittal; 7 slices; the model reads 16"
        );
        // A sagittal phantom resliced axially by a transpose: slices of 32x256.
        let v = gate(16).check(&exam([64, 32, 256], Format::Npy));
        assert_eq!(rules(&v), [Rule::Shape]);
        assert!(v.summary().contains("aspect 8.0"), "{}", v.summary());
        let v = gate(16).check(&exam([1, 64, 64], Format::Npy));
        assert_eq!(v.summary(), "1 slice; the model reads 16");
        let v = gate(16).check(&exam([20, 16, 16], Format::Npy));
        assert_eq!(rules(&v), [Rule::Shape]);
    }

    #[test]
    fn volumes_without_an_image_are_refused() {
        let mut e = exam([20, 64, 64], Format::Npy);
        e.data.iter_mut().for_each(|v| *v = 3.0);
        assert_eq!(gate(16).check(&e).summary(), "every voxel is 3: no image");
        e.data[5] = f32::NAN;
        assert_eq!(gate(16).check(&e).summary(), "1 voxels are NaN or infinite");
        e.data = cruciate_testkit::noise(e.data.len(), 7);
        let v = gate(16).check(&e);
        assert_eq!(rules(&v), [Rule::Content]);
        assert!(
            v.summary().starts_with("no image structure"),
            "{}",
            v.summary()
        );
    }

    #[test]
    fn settings_come_from_the_run_and_default_when_absent() {
        let mut info = RunInfo::new("network", Task::Binary, "test");
        assert_eq!(Gate::for_run(&info).min_slices(), 2);
        info.gate = Some(GateSettings {
            min_slices: Some(5),
            ..GateSettings::default()
        });
        assert_eq!(Gate::for_run(&info).min_slices(), 5);
        // Half of what the model reads, but no more than a knee series of any protocol has:
        // MRNet's recipe reads "every slice" (a cap of 64) and must take a 25-slice exam.
        for (reads, least) in [(16, 8), (5, 3), (64, DEFAULT_MIN_SLICES_CAP)] {
            assert_eq!(gate(reads).min_slices(), least, "reading {reads}");
        }
        let mut reasons = Vec::new();
        gate(64).geometry(&exam([25, 32, 32], Format::Npy), &mut reasons);
        assert!(reasons.is_empty(), "{reasons:?}");
        let parsed: GateSettings = serde_json::from_str(r#"{"max_aspect": 3.0}"#).unwrap();
        assert_eq!(parsed.max_aspect, 3.0);
        assert_eq!(parsed.plane, Plane::Sagittal);
        assert!(serde_json::from_str::<GateSettings>(r#"{"plain": "axial"}"#).is_err());
    }
}
