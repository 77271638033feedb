//! A feature model of either family, fitted from its settings and saved as JSON.

use serde::{Deserialize, Serialize};

use crate::{Logistic, LogisticSettings, Matrix, Svc, SvcSettings, SvmError};

/// What to fit: an SVM or the logistic-regression baseline, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum ModelSettings {
    /// A support vector classifier.
    Svm(SvcSettings),
    /// A logistic regression.
    Logistic(LogisticSettings),
}

impl ModelSettings {
    /// The settings in one line, for tables.
    pub fn describe(&self) -> String {
        match self {
            ModelSettings::Svm(s) => format!(
                "svm kernel={} C={} gamma={} class_weight={}",
                match s.kernel {
                    crate::KernelKind::Linear => "linear",
                    crate::KernelKind::Rbf => "rbf",
                },
                s.c,
                match s.gamma {
                    crate::Gamma::Scale => "scale".to_string(),
                    crate::Gamma::Value(g) => g.to_string(),
                },
                weight_name(&s.class_weight)
            ),
            ModelSettings::Logistic(s) => format!(
                "logistic C={} class_weight={}",
                s.c,
                weight_name(&s.class_weight)
            ),
        }
    }

    /// Fits the model on rows `x` with labels `y` (each below `classes`).
    pub fn fit(&self, x: &Matrix, y: &[usize], classes: usize) -> Result<FeatureModel, SvmError> {
        libsvm_rs::set_quiet(true);
        Ok(match self {
            ModelSettings::Svm(s) => FeatureModel::Svm(Svc::fit(x, y, classes, s)?),
            ModelSettings::Logistic(s) => FeatureModel::Logistic(Logistic::fit(x, y, classes, s)?),
        })
    }
}

fn weight_name(w: &crate::ClassWeight) -> String {
    match w {
        crate::ClassWeight::None => "none".into(),
        crate::ClassWeight::Balanced => "balanced".into(),
        crate::ClassWeight::Given(v) => format!("{v:?}"),
    }
}

/// A fitted feature model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum FeatureModel {
    /// A support vector classifier.
    Svm(Svc),
    /// A logistic regression.
    Logistic(Logistic),
}

impl FeatureModel {
    /// Checks a model read from a file, for `classes` classes.
    pub fn validate(&self, classes: usize) -> Result<(), SvmError> {
        let (own, checked) = match self {
            FeatureModel::Svm(m) => (m.classes(), m.validate()),
            FeatureModel::Logistic(m) => (m.classes, m.validate()),
        };
        checked?;
        if own != classes {
            return Err(SvmError::Input(format!(
                "the model answers for {own} classes, the run for {classes}"
            )));
        }
        Ok(())
    }

    /// Class probabilities of one feature vector, in class order.
    pub fn probabilities(&self, row: &[f32]) -> Result<Vec<f64>, SvmError> {
        match self {
            FeatureModel::Svm(m) => m.probabilities(row),
            FeatureModel::Logistic(m) => m.probabilities(row),
        }
    }
}
