//! What the gate decided about one exam.

use serde::{Deserialize, Serialize};

/// Which rule a reason comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The exam is not of the modality the model reads (DICOM Modality).
    Modality,
    /// The exam was acquired in another plane than the model reads.
    Plane,
    /// Too few slices for the model.
    Slices,
    /// Slices too small, or of a shape no knee slice has.
    Shape,
    /// The voxels hold no image (constant, noise, non-finite values).
    Content,
    /// The headers say the series is not one the model reads (a localiser, another weighting,
    /// fat suppression or not).
    Sequence,
    /// The voxels are farther apart than the model reads.
    Spacing,
    /// A model of ACL regions got none it can trust: its localiser found no region, or one no
    /// ACL could fill.
    Region,
    /// In the model's own features, the exam is unlike the training exams.
    Unlike,
}

impl Rule {
    /// Its name in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Modality => "modality",
            Rule::Plane => "plane",
            Rule::Slices => "slices",
            Rule::Shape => "shape",
            Rule::Content => "content",
            Rule::Sequence => "sequence",
            Rule::Spacing => "spacing",
            Rule::Region => "region",
            Rule::Unlike => "unlike",
        }
    }
}

/// One reason the gate abstains: its rule, and the words a reader sees ("coronal plane
/// (ImageOrientationPatient); the model reads sagittal").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule.
    pub rule: Rule,
    /// What is wrong, in words.
    pub text: String,
}

impl Reason {
    /// A reason of `rule` saying `text`.
    pub fn new(rule: Rule, text: impl Into<String>) -> Self {
        Self {
            rule,
            text: text.into(),
        }
    }
}

/// The gate's decision about one exam. Results written before the gate existed read as
/// accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Verdict {
    /// The exam is one the model reads.
    #[default]
    Accepted,
    /// The exam is outside the model's domain: no grade is shown for it.
    Abstained {
        /// Every reason, in the order the rules were checked.
        reasons: Vec<Reason>,
    },
}

impl Verdict {
    /// Accepted when `reasons` is empty, else abstained for them.
    pub fn from_reasons(reasons: Vec<Reason>) -> Self {
        if reasons.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::Abstained { reasons }
        }
    }

    /// Whether the exam is one the model reads.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted)
    }

    /// The reasons for abstaining (none when accepted).
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Verdict::Accepted => &[],
            Verdict::Abstained { reasons } => reasons,
        }
    }

    /// The reasons in one line, joined by "; " (empty when accepted).
    pub fn summary(&self) -> String {
        self.reasons()
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accepted => f.write_str("accepted"),
            Verdict::Abstained { .. } => write!(f, "not analysed: {}", self.summary()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_reads_and_writes_as_json_and_old_results_are_accepted() {
        let v = Verdict::from_reasons(vec![Reason::new(Rule::Plane, "coronal plane")]);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"status":"abstained","reasons":[{"rule":"plane","text":"coronal plane"}]}"#
        );
        assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
        assert_eq!(v.to_string(), "not analysed: coronal plane");
        assert!(Verdict::from_reasons(Vec::new()).is_accepted());
        // The names reports use are serde's.
        for rule in [
            Rule::Modality,
            Rule::Plane,
            Rule::Slices,
            Rule::Shape,
            Rule::Content,
            Rule::Unlike,
        ] {
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
    }
}
