//! What a hyperparameter search of the SVM path needs from this crate: the feature settings a
//! search file names (`[features]`), a trial's settings read as a feature model, and the
//! feature tables of the trials, each computed once per pooling and slice choice and shared by
//! every trial that asks for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cruciate_data::Manifest;
use cruciate_infer::Progress;
use cruciate_models::Compute;
use cruciate_svm::{ClassWeight, Gamma, LogisticSettings, ModelSettings, SvcSettings};
use serde::Deserialize;

use crate::{Extractor, FeatureError, FeatureRegion, FeatureTable, Pool, SliceChoice};

/// One trial's settings: a value per searched name (as `cruciate_eval::tune::Params`).
pub type TrialSettings = BTreeMap<String, serde_json::Value>;

/// The settings an SVM-path search may vary.
pub const SEARCHABLE: [&str; 7] = [
    "model",
    "kernel",
    "c",
    "gamma",
    "class_weight",
    "pool",
    "slices",
];

/// The backbone every trial's features come from (a search file's `[features]` table).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFeatures {
    /// The backbone's name (`vgg16`, `resnet50`...).
    pub backbone: String,
    /// Its pretrained weights.
    #[serde(default)]
    pub weights: Option<PathBuf>,
    /// The side slices are resized to.
    #[serde(default = "default_size")]
    pub size: usize,
}

fn default_size() -> usize {
    224
}

fn request(message: String) -> FeatureError {
    FeatureError::Request(message)
}

fn text<'a>(p: &'a TrialSettings, key: &str, default: &'a str) -> Result<&'a str, FeatureError> {
    match p.get(key) {
        None => Ok(default),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(request(format!("{key} = {other}: expected a string"))),
    }
}

fn positive(p: &TrialSettings, key: &str) -> Result<Option<f64>, FeatureError> {
    p.get(key)
        .map(|v| {
            v.as_f64()
                .filter(|x| *x > 0.0)
                .ok_or_else(|| request(format!("{key} = {v}: expected a positive number")))
        })
        .transpose()
}

/// The feature model a trial's settings describe (defaults for the settings it leaves out).
pub fn model_settings(p: &TrialSettings) -> Result<ModelSettings, FeatureError> {
    let c = positive(p, "c")?.unwrap_or(1.0);
    let class_weight = match text(p, "class_weight", "balanced")? {
        "balanced" => ClassWeight::Balanced,
        "none" => ClassWeight::None,
        other => {
            return Err(request(format!(
                "class_weight {other:?}: expected balanced or none"
            )));
        }
    };
    let gamma = match p.get("gamma") {
        None => Gamma::Scale,
        Some(serde_json::Value::String(s)) => s.parse()?,
        Some(_) => Gamma::Value(
            positive(p, "gamma")
                .map_err(|_| request("gamma: expected scale or a positive number".into()))?
                .unwrap_or(1.0),
        ),
    };
    Ok(match text(p, "model", "svm")? {
        "svm" => ModelSettings::Svm(SvcSettings {
            kernel: text(p, "kernel", "rbf")?.parse()?,
            c,
            gamma,
            class_weight,
            ..SvcSettings::default()
        }),
        "logistic" => ModelSettings::Logistic(LogisticSettings {
            c,
            class_weight,
            ..LogisticSettings::default()
        }),
        other => {
            return Err(request(format!(
                "model {other:?}: expected svm or logistic"
            )));
        }
    })
}

/// Where a search's feature tables come from.
pub struct TrialSource<'a> {
    /// The exams.
    pub manifest: &'a Manifest,
    /// The backbone and input size.
    pub features: &'a SearchFeatures,
    /// The backbone's weights (the search file's path, resolved).
    pub weights: Option<PathBuf>,
    /// The region exams are cut to, when one is.
    pub region: Option<FeatureRegion>,
    /// The search's folder; tables go under its `features/`.
    pub out: &'a Path,
    /// Where the backbone computes.
    pub compute: Compute,
    /// Where extraction reports its progress.
    pub progress: &'a dyn Progress,
}

/// The feature tables of a search's trials under `out/features/`, each computed once.
pub struct TrialTables<'a> {
    source: TrialSource<'a>,
    tables: BTreeMap<(String, String), FeatureTable>,
}

impl<'a> TrialTables<'a> {
    /// No table yet: each is computed when a trial first asks for it.
    pub fn new(source: TrialSource<'a>) -> Self {
        Self {
            source,
            tables: BTreeMap::new(),
        }
    }

    fn choice(p: &TrialSettings) -> Result<(String, String), FeatureError> {
        Ok((
            text(p, "pool", "max")?.to_string(),
            text(p, "slices", "central:16")?.to_string(),
        ))
    }

    /// The extractor a trial's pooling and slices describe.
    pub fn extractor(&self, p: &TrialSettings) -> Result<Extractor, FeatureError> {
        let (pool, slices) = Self::choice(p)?;
        let slices: SliceChoice = slices.parse().map_err(request)?;
        let s = &self.source;
        Ok(Extractor::new(
            &s.features.backbone,
            s.weights.as_deref(),
            None,
            slices.input(s.features.size),
            Pool::parse_list(&pool).map_err(request)?,
            s.compute.device(),
        )?
        .with_engine(s.compute.engine_choice())?
        .with_region(s.region.as_ref().map(FeatureRegion::spec)))
    }

    /// The table of a trial's features (computed the first time it is asked for).
    pub fn get(&mut self, p: &TrialSettings) -> Result<&FeatureTable, FeatureError> {
        let key = Self::choice(p)?;
        if !self.tables.contains_key(&key) {
            let extractor = self.extractor(p)?;
            let s = &self.source;
            let dir = s.out.join("features").join(extractor.spec().key());
            let (table, _) = FeatureTable::extract(
                (s.manifest, cruciate_data::Finding::Acl),
                (&extractor, s.region.as_ref()),
                s.weights.as_deref(),
                &dir,
                s.progress,
            )?;
            self.tables.insert(key.clone(), table);
        }
        Ok(&self.tables[&key])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(pairs: &[(&str, serde_json::Value)]) -> TrialSettings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_trials_settings_read_as_a_feature_model_or_say_what_is_wrong() {
        use serde_json::json;
        match model_settings(&trial(&[("c", json!(10.0)), ("gamma", json!(0.01))])).unwrap() {
            ModelSettings::Svm(s) => {
                assert_eq!(s.c, 10.0);
                assert_eq!(s.gamma, Gamma::Value(0.01));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            model_settings(&trial(&[("model", json!("logistic"))])).unwrap(),
            ModelSettings::Logistic(_)
        ));
        for (key, bad) in [
            ("c", json!(-1)),
            ("gamma", json!(0)),
            ("class_weight", json!("heavy")),
            ("model", json!("forest")),
            ("kernel", json!(3)),
        ] {
            let e = model_settings(&trial(&[(key, bad.clone())])).unwrap_err();
            assert!(e.to_string().contains(key), "{key} = {bad}: {e}");
        }
    }
}
