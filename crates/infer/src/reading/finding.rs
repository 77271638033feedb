//! One finding read from a study: by the network of one plane (a run), or by MRNet's
//! combination of plane networks (a combined run), each plane's network given its plane's
//! series of the study and its input gate choosing among them.

use std::path::Path;

use cruciate_data::Finding;
use cruciate_volume::{Plane, Study};
use serde::{Deserialize, Serialize};

use cruciate_volume::Volume;

use crate::{
    Classifier, CombinedRun, ExplainRequest, Explanation, Gated, InferError, Prediction, Registry,
};

/// One plane's part in a finding's call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaneCall {
    /// The plane.
    pub plane: Plane,
    /// The plane network's positive probability, where its series was read and accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Why the plane takes no part, where it does not ("no axial series", the gate's reasons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_used: Option<String>,
    /// What the reader noted choosing the plane's series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a study says about one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingCall {
    /// The finding.
    pub finding: Finding,
    /// The probability that the finding is present (an injured ACL, a meniscal tear, an
    /// abnormal knee), where any plane could be read and was accepted; `None`: not analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The planes the probability comes from.
    pub planes_used: Vec<Plane>,
    /// Each plane the model reads, used or not and why.
    pub planes: Vec<PlaneCall>,
    /// A one-plane model's whole result (its classes, a graded ACL's grades, the grade set,
    /// the gate's verdict); combined runs give the probability alone. It stays the model's own
    /// where `raised_by` raised the probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// The finding of the same reading whose probability an abnormality call was raised to,
    /// where it was (an abnormal knee is at least as likely as any finding it includes:
    /// [`keep_abnormality_consistent`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_by: Option<Finding>,
    /// The finding's own model's probability, where the reading's regression across findings
    /// replaced it ([`super::AcrossFindings`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_probability: Option<f64>,
    /// The other findings whose probabilities that regression read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub informed_by: Vec<Finding>,
}

/// Raises a reading's abnormality probability to that of its most probable other finding
/// where that is higher: every ACL injury and every meniscal tear is an abnormality (MRNet's
/// abnormal knees include all of them), so `P(abnormal) >= P(finding)` for each, and a reading
/// that called an ACL tear at 0.95 and an abnormal knee at 0.30 would contradict itself. An
/// abnormality not analysed stays so; the other findings are not changed.
pub fn keep_abnormality_consistent(calls: &mut [FindingCall]) {
    let strongest = calls
        .iter()
        .filter(|c| c.finding != Finding::Abnormal)
        .filter_map(|c| c.probability.map(|p| (p, c.finding)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let abnormal = calls.iter_mut().find(|c| c.finding == Finding::Abnormal);
    if let (Some(call), Some((p, finding))) = (abnormal, strongest)
        && call.probability.is_some_and(|own| p > own)
    {
        call.probability = Some(p);
        call.raised_by = Some(finding);
    }
}

impl FindingCall {
    /// Whether the call is positive (probability at least one half); `None` when not analysed.
    pub fn positive(&self) -> Option<bool> {
        self.probability.map(|p| p >= 0.5)
    }

    /// The call in words: "meniscal tear 0.912", "no meniscal tear 0.088", or "not analysed:
    /// why" (every plane's reason).
    pub fn describe(&self) -> String {
        let mut raised = self
            .raised_by
            .map_or(String::new(), |f| format!(" (as the {}'s)", f.describe()));
        if let (Some(own), false) = (self.own_probability, self.informed_by.is_empty()) {
            let others: Vec<&str> = self.informed_by.iter().map(|f| f.describe()).collect();
            raised += &format!(" (with the {}; its own {own:.3})", others.join(" and the "));
        }
        match self.probability {
            Some(p) if p >= 0.5 => format!("{} {p:.3}{raised}", self.finding.positive()),
            Some(p) => format!("no {} {p:.3}{raised}", self.finding.describe()),
            None => {
                let why: Vec<String> = self
                    .planes
                    .iter()
                    .filter_map(|c| c.not_used.as_ref().map(|w| format!("{}: {w}", c.plane)))
                    .collect();
                format!("not analysed ({})", why.join("; "))
            }
        }
    }
}

/// A model of one finding, opened from its folder.
pub enum FindingModel {
    /// One network of one plane (any run kind), behind its gate.
    Single(Box<Gated>),
    /// Plane networks of one finding and the regressions combining them.
    Combined {
        /// `combined.json`.
        run: CombinedRun,
        /// Each plane's network, behind its gate, in the order of `run.runs`.
        planes: Vec<(Plane, Gated)>,
    },
}

impl FindingModel {
    /// Opens folder `dir`: a combined run where it holds `combined.json`, else a run.
    pub fn open(registry: &Registry, dir: &Path) -> Result<Self, InferError> {
        let gated = |run: &Path| Gated::open(registry.open_model(run)?, run);
        match CombinedRun::read(dir)? {
            Some(run) => {
                let planes = run
                    .runs
                    .iter()
                    .map(|p| Ok((p.plane, gated(&CombinedRun::run_folder(dir, p))?)))
                    .collect::<Result<_, InferError>>()?;
                Ok(Self::Combined { run, planes })
            }
            None => Ok(Self::Single(Box::new(gated(dir)?))),
        }
    }

    /// The finding it answers.
    pub fn finding(&self) -> Finding {
        match self {
            Self::Single(model) => model.info().finding,
            Self::Combined { run, .. } => run.finding,
        }
    }

    /// True when it was trained on synthetic exams.
    pub fn synthetic(&self) -> bool {
        match self {
            Self::Single(model) => model.info().synthetic(),
            Self::Combined { run, .. } => run.synthetic,
        }
    }

    /// The planes it reads.
    pub fn planes(&self) -> Vec<Plane> {
        self.plane_models().into_iter().map(|(p, _)| p).collect()
    }

    /// The network of each plane it reads, behind its gate.
    pub fn plane_models(&self) -> Vec<(Plane, &Gated)> {
        match self {
            Self::Single(model) => vec![(model.info().plane(), model.as_ref())],
            Self::Combined { planes, .. } => planes.iter().map(|(p, m)| (*p, m)).collect(),
        }
    }

    /// Reads `study`: each plane's network its plane's series (chosen by its gate), a missing
    /// or refused plane left out and said, the planes read combined where there are several.
    pub fn read(&self, study: &Study) -> Result<FindingCall, InferError> {
        self.read_shown(study, None).map(|(call, _)| call)
    }

    /// As [`FindingModel::read`], with what each plane's network read kept for showing it: its
    /// series, its prediction and, with `explain`, where its call came from (a network that
    /// cannot explain itself that way gives its prediction alone).
    pub fn read_shown(
        &self,
        study: &Study,
        explain: Option<&ExplainRequest>,
    ) -> Result<(FindingCall, Vec<PlaneReading>), InferError> {
        let mut calls = Vec::new();
        let mut shown = Vec::new();
        for (plane, model) in self.plane_models() {
            let (call, reading) = plane_call(model, plane, study, explain)?;
            calls.push(call);
            shown.extend(reading);
        }
        let call = match self {
            Self::Single(_) => {
                let call = calls.remove(0);
                FindingCall {
                    finding: self.finding(),
                    probability: call.probability,
                    planes_used: call.probability.map(|_| call.plane).into_iter().collect(),
                    planes: vec![call],
                    prediction: shown.first().map(|r| r.prediction.clone()),
                    raised_by: None,
                    own_probability: None,
                    informed_by: Vec::new(),
                }
            }
            Self::Combined { run, .. } => {
                let by_plane: Vec<_> = calls.iter().map(|c| (c.plane, c.probability)).collect();
                let combination = run.probability(&by_plane);
                FindingCall {
                    finding: run.finding,
                    probability: combination.as_ref().map(|c| c.0),
                    planes_used: combination.map_or(Vec::new(), |c| c.1),
                    planes: calls,
                    prediction: None,
                    raised_by: None,
                    own_probability: None,
                    informed_by: Vec::new(),
                }
            }
        };
        Ok((call, shown))
    }
}

/// What one plane's network of a finding read: its series, its call and where it came from.
pub struct PlaneReading {
    /// The plane.
    pub plane: Plane,
    /// The series its gate chose.
    pub volume: Volume,
    /// Its call on it.
    pub prediction: Prediction,
    /// Where the call came from, when asked and the network explains itself.
    pub explanation: Option<Explanation>,
}

/// `model`'s call on its plane `plane` of `study`, with what it read where the plane has a
/// series.
fn plane_call(
    model: &Gated,
    plane: Plane,
    study: &Study,
    explain: Option<&ExplainRequest>,
) -> Result<(PlaneCall, Option<PlaneReading>), InferError> {
    let of_plane = study.of_plane(plane);
    if of_plane.series.is_empty() {
        let call = PlaneCall {
            plane,
            probability: None,
            not_used: Some(format!("no {plane} series")),
            notes: Vec::new(),
        };
        return Ok((call, None));
    }
    let volume = model
        .gate()
        .choose(of_plane, None)
        .map_err(|e| InferError::Input(e.to_string()))?;
    let explanation = match explain.map(|request| model.explain(&volume, request)) {
        Some(Ok(e)) => Some(e),
        None | Some(Err(InferError::Request(_))) => None,
        Some(Err(e)) => return Err(e),
    };
    let prediction = match &explanation {
        Some(e) => e.prediction.clone(),
        None => model.predict(&volume)?,
    };
    let accepted = prediction.verdict.is_accepted();
    let call = PlaneCall {
        plane,
        probability: accepted.then_some(prediction.injured_probability),
        not_used: (!accepted).then(|| prediction.verdict.to_string()),
        notes: volume.meta.notes.clone(),
    };
    let reading = PlaneReading {
        plane,
        volume,
        prediction,
        explanation,
    };
    Ok((call, Some(reading)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A call of `finding` holding a probability alone.
    pub(crate) fn call(finding: Finding, probability: Option<f64>) -> FindingCall {
        FindingCall {
            finding,
            probability,
            planes_used: Vec::new(),
            planes: Vec::new(),
            prediction: None,
            raised_by: None,
            own_probability: None,
            informed_by: Vec::new(),
        }
    }

    /// An abnormality below an included finding is raised to it and says so; one above it, or
    /// not analysed, is kept; the other findings never change.
    #[test]
    fn an_abnormal_knee_is_at_least_as_likely_as_a_tear_it_includes() {
        let mut calls = vec![
            call(Finding::Acl, Some(0.95)),
            call(Finding::Abnormal, Some(0.30)),
            call(Finding::Meniscus, Some(0.60)),
        ];
        keep_abnormality_consistent(&mut calls);
        assert_eq!(calls[1].probability, Some(0.95));
        assert_eq!(calls[1].raised_by, Some(Finding::Acl));
        assert_eq!(calls[1].describe(), "abnormal 0.950 (as the ACL tear's)");
        assert_eq!(
            (calls[0].probability, calls[2].probability),
            (Some(0.95), Some(0.60))
        );
        assert_eq!(calls[0].raised_by, None);

        let mut higher = vec![
            call(Finding::Abnormal, Some(0.7)),
            call(Finding::Meniscus, Some(0.6)),
        ];
        keep_abnormality_consistent(&mut higher);
        assert_eq!(
            (higher[0].probability, higher[0].raised_by),
            (Some(0.7), None)
        );
        assert_eq!(higher[0].describe(), "abnormal 0.700");

        let mut unread = vec![call(Finding::Abnormal, None), call(Finding::Acl, Some(0.9))];
        keep_abnormality_consistent(&mut unread);
        assert_eq!((unread[0].probability, unread[0].raised_by), (None, None));

        let mut low = vec![
            call(Finding::Abnormal, Some(0.1)),
            call(Finding::Meniscus, Some(0.2)),
        ];
        keep_abnormality_consistent(&mut low);
        assert_eq!(
            low[0].describe(),
            "no abnormality 0.200 (as the meniscal tear's)"
        );
    }
}
