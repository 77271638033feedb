//! What the service watches of every exam it analyses: a few numbers about the input (how
//! many slices, how far apart, how bright, how noisy, how unlike the training exams) and the
//! output (how injured, how sure, whether the gate abstained).

use cruciate_volume::{Format, Volume};
use serde::{Deserialize, Serialize};

use crate::Prediction;
use crate::gate::neighbour_correlation;

/// Voxels sampled at most for the intensity percentiles (evenly spaced).
const SAMPLED_VOXELS: usize = 1 << 16;

/// One exam's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamSignals {
    /// Slices.
    pub slices: usize,
    /// In-plane voxel spacing in mm, where the file gives geometry (DICOM, NIfTI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing_mm: Option<f64>,
    /// Median stored intensity (a gain or window change moves it).
    pub intensity_median: f64,
    /// 99th percentile of the stored intensity.
    pub intensity_p99: f64,
    /// 99th percentile after the exam's own normalisation (z-scores): the shape of the
    /// intensity distribution, whatever the gain.
    pub normalised_p99: f64,
    /// Correlation of neighbouring voxels (heavier noise lowers it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<f64>,
    /// The gate's distance to the training exams, where the run has a domain reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_score: Option<f64>,
    /// The injured probability shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injured_probability: Option<f64>,
    /// The probability of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Whether the gate abstained.
    #[serde(default)]
    pub abstained: bool,
}

impl ExamSignals {
    /// The input's numbers of `exam` (no output yet).
    pub fn of_input(exam: &Volume) -> Self {
        let step = exam.data.len().div_ceil(SAMPLED_VOXELS).max(1);
        let mut sample: Vec<f64> = exam
            .data
            .iter()
            .step_by(step)
            .filter(|v| v.is_finite())
            .map(|&v| f64::from(v))
            .collect();
        sample.sort_by(f64::total_cmp);
        let n = sample.len().max(1) as f64;
        let mean = sample.iter().sum::<f64>() / n;
        let sd = (sample.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let p99 = percentile(&sample, 0.99);
        let geometry = matches!(
            exam.meta.format,
            Format::Dicom | Format::Nifti1 | Format::Nifti2
        );
        Self {
            slices: exam.shape[0],
            spacing_mm: geometry.then_some(exam.spacing[1]),
            intensity_median: percentile(&sample, 0.5),
            intensity_p99: p99,
            normalised_p99: if sd > 0.0 { (p99 - mean) / sd } else { 0.0 },
            structure: neighbour_correlation(exam),
            domain_score: None,
            injured_probability: None,
            confidence: None,
            abstained: false,
        }
    }

    /// The same numbers with the call's: `prediction` as shown, and the gate's score.
    pub fn with_output(mut self, prediction: &Prediction, domain_score: Option<f64>) -> Self {
        self.domain_score = domain_score.filter(|s| s.is_finite());
        self.injured_probability = Some(prediction.injured_probability);
        self.confidence = Some(prediction.confidence());
        self.abstained = !prediction.verdict.is_accepted();
        self
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 for none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// One of the numbers, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// [`ExamSignals::slices`].
    Slices,
    /// [`ExamSignals::spacing_mm`].
    SpacingMm,
    /// [`ExamSignals::intensity_median`].
    IntensityMedian,
    /// [`ExamSignals::intensity_p99`].
    IntensityP99,
    /// [`ExamSignals::normalised_p99`].
    NormalisedP99,
    /// [`ExamSignals::structure`].
    Structure,
    /// [`ExamSignals::domain_score`].
    DomainScore,
    /// [`ExamSignals::injured_probability`].
    InjuredProbability,
    /// [`ExamSignals::confidence`].
    Confidence,
}

impl Signal {
    /// Every signal, inputs first.
    pub const ALL: [Signal; 9] = [
        Signal::Slices,
        Signal::SpacingMm,
        Signal::IntensityMedian,
        Signal::IntensityP99,
        Signal::NormalisedP99,
        Signal::Structure,
        Signal::DomainScore,
        Signal::InjuredProbability,
        Signal::Confidence,
    ];

    /// Its name in reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Slices => "slices",
            Signal::SpacingMm => "spacing_mm",
            Signal::IntensityMedian => "intensity_median",
            Signal::IntensityP99 => "intensity_p99",
            Signal::NormalisedP99 => "normalised_p99",
            Signal::Structure => "structure",
            Signal::DomainScore => "domain_score",
            Signal::InjuredProbability => "injured_probability",
            Signal::Confidence => "confidence",
        }
    }

    /// Its value for one exam, where known.
    pub fn of(self, s: &ExamSignals) -> Option<f64> {
        let value = match self {
            Signal::Slices => Some(s.slices as f64),
            Signal::SpacingMm => s.spacing_mm,
            Signal::IntensityMedian => Some(s.intensity_median),
            Signal::IntensityP99 => Some(s.intensity_p99),
            Signal::NormalisedP99 => Some(s.normalised_p99),
            Signal::Structure => s.structure,
            Signal::DomainScore => s.domain_score,
            Signal::InjuredProbability => s.injured_probability,
            Signal::Confidence => s.confidence,
        };
        value.filter(|v| v.is_finite())
    }
}
