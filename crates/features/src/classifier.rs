//! A feature model on a frozen backbone's vectors as a [`Classifier`]: the run kind `features`,
//! which `cruciate svm train` writes and [`features_kind`] opens.
//!
//! ```text
//! RUN/run.json       kind "features", the task, the input preparation, and in `settings` the
//!                    feature spec and the model's settings
//! RUN/model.json     the fitted SVM or logistic regression (standardisation included)
//! RUN/backbone.bpk   the frozen backbone's weights, so that the run computes features from an
//!                    exam by itself
//! RUN/config.json    what was asked: features folder, task, model settings, rows fitted on
//! RUN/summary.json   fit time, support vectors, accuracy and AUC on the validation rows
//! RUN/calibration.json  the grade sets' conformal scores, from the calib rows (else valid)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cruciate_data::Task;
use cruciate_infer::calibration::{Calibration, CalibrationSettings, DEFAULT_COVERAGE};
use cruciate_infer::{
    Classifier, ExplainMethod, ExplainRequest, Explanation, HeatMap, InferError, Prediction,
    Registry, RunInfo, RunKind, run::TrainingInfo,
};
use cruciate_metrics::{accuracy, argmax, roc_auc};
use cruciate_models::Compute;
use cruciate_svm::{FeatureModel, ModelSettings};
use cruciate_volume::Volume;
use serde::{Deserialize, Serialize};

use crate::{Extractor, FeatureError, FeatureSpec, FeatureTable, SliceFeatures};

/// The kind name of feature-model runs.
pub const FEATURES_KIND: &str = "features";

const MODEL_FILE: &str = "model.json";
const BACKBONE_FILE: &str = "backbone.bpk";

/// The `settings` of a features run's `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRunSettings {
    /// What makes the vectors.
    pub spec: FeatureSpec,
    /// The backbone's weights, relative to the run folder.
    pub backbone_file: String,
    /// The model and its settings.
    pub model: ModelSettings,
}

/// `summary.json`: what a fit did and how it scores on the validation rows it did not see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    /// The model's settings in one line.
    pub model: String,
    /// The features in one line.
    pub features: String,
    /// Rows fitted on.
    pub fitted_on: usize,
    /// Seconds the fit took.
    pub fit_seconds: f64,
    /// Support vectors kept (SVMs).
    pub support_vectors: Option<usize>,
    /// Validation rows scored.
    pub valid_exams: usize,
    /// Validation accuracy.
    pub valid_accuracy: Option<f64>,
    /// Validation AUC of the injured probability (any grade above 0).
    pub valid_auc: Option<f64>,
}

/// A fitted feature model and the backbone that feeds it.
pub struct FeatureClassifier {
    info: RunInfo,
    extractor: Extractor,
    model: FeatureModel,
}

impl FeatureClassifier {
    /// Opens the features run in folder `run` described by `info`, computing on `compute`.
    pub fn open(run: &Path, info: RunInfo, compute: Compute) -> Result<Self, InferError> {
        let settings: FeatureRunSettings = info.settings(run)?;
        settings
            .spec
            .validate()
            .map_err(|e| InferError::run(run, format!("run.json: {e}")))?;
        let path = info.model_path(run)?;
        let text = std::fs::read_to_string(&path).map_err(|e| InferError::io(&path, e))?;
        let model: FeatureModel = serde_json::from_str(&text)
            .map_err(|e| InferError::run(&path, format!("not a feature model: {e}")))?;
        model
            .validate(info.task.classes())
            .map_err(|e| InferError::run(&path, e.to_string()))?;
        let backbone = run.join(&settings.backbone_file);
        if settings.backbone_file.contains(['/', '\\']) || !backbone.is_file() {
            return Err(InferError::run(
                run,
                format!("backbone file {:?} is missing", settings.backbone_file),
            ));
        }
        let extractor = Extractor::open(settings.spec, &backbone, compute.device())?
            .with_engine(compute.engine_choice())?;
        Ok(Self {
            info,
            extractor,
            model,
        })
    }

    /// The probabilities of one exam vector.
    fn probabilities(&self, vector: &[f32]) -> Result<Vec<f64>, InferError> {
        self.model
            .probabilities(vector)
            .map_err(|e| InferError::Internal(format!("the feature model: {e}")))
    }
}

impl Classifier for FeatureClassifier {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    /// SVMs give Platt-scaled probabilities and logistic regressions their fitted likelihood:
    /// neither is scaled again.
    fn own_calibration(&self) -> Option<&'static str> {
        Some(match self.model {
            FeatureModel::Svm(_) => "Platt scaling",
            FeatureModel::Logistic(_) => "the logistic regression's own likelihood",
        })
    }

    /// Features of the exam's slices, pooled, through the model; each slice's own vector
    /// through the model gives its per-slice scores.
    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        let slices = self.extractor.slice_features(exam)?;
        self.prediction(exam, &slices)
    }

    /// Grad-CAM through the backbone with the feature model as its head (see
    /// [`crate::explain`]), unless occlusion is asked for.
    fn explain(&self, exam: &Volume, request: &ExplainRequest) -> Result<Explanation, InferError> {
        match request.method {
            None | Some(ExplainMethod::GradCam) => {}
            Some(ExplainMethod::Occlusion) => {
                return cruciate_infer::occlusion(self, exam, request);
            }
            Some(ExplainMethod::Cam) => {
                return Err(InferError::Request(
                    "CAM needs a network's linear head; a feature model is explained by gradcam \
                     or occlusion"
                        .into(),
                ));
            }
        }
        let maps = self.extractor.slice_maps(exam)?;
        let slices = maps.features();
        let prediction = self.prediction(exam, &slices)?;
        let target = request.class.unwrap_or(prediction.class);
        let classes = prediction.probabilities.len();
        if target >= classes {
            return Err(InferError::Request(format!(
                "class {target} does not exist: the model has classes 0..{} ({})",
                classes - 1,
                self.info.classes.join(", ")
            )));
        }
        let gradient = self
            .model
            .probability_gradient(&prediction.features, target)
            .map_err(|e| InferError::Internal(format!("the feature model: {e}")))?;
        let weights = crate::explain::slice_gradients(
            &self.extractor.spec().pooling,
            &slices.slices,
            &gradient,
        );
        let heat = crate::explain::grad_cam_maps(&maps, &weights);
        let [s, _, h, w] = maps.dims;
        let per_slice: Vec<f64> = heat
            .chunks_exact((h * w).max(1))
            .map(|m| m.iter().map(|&v| f64::from(v)).sum())
            .collect();
        let total: f64 = per_slice.iter().sum();
        let slice_importance = if total > 0.0 {
            per_slice.iter().map(|v| v / total).collect()
        } else {
            vec![1.0 / s.max(1) as f64; s]
        };
        Ok(Explanation {
            prediction,
            method: ExplainMethod::GradCam,
            target,
            slice_importance,
            heat: HeatMap::from_input_maps(exam.shape, &maps.input.geometry, heat, [s, h, w]),
        })
    }
}

impl FeatureClassifier {
    /// The prediction on `exam` whose slices gave `slices`.
    fn prediction(&self, exam: &Volume, slices: &SliceFeatures) -> Result<Prediction, InferError> {
        let pooled = self.extractor.pool(&slices.slices);
        let probabilities = self.probabilities(&pooled)?;
        let per_slice = slices
            .slices
            .iter()
            .map(|s| self.probabilities(&self.extractor.pool(std::slice::from_ref(s))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut prediction = Prediction::new(
            self.info.classes.clone(),
            probabilities,
            slices.range,
            per_slice,
        );
        prediction
            .warnings
            .extend(self.info.training.region_warning(exam));
        // The vector the SVM reads is the exam in the model's own terms, for the gate.
        prediction.features = pooled;
        Ok(prediction)
    }
}

/// The `features` run kind on `compute`, for a [`Registry`].
pub fn features_kind(compute: Compute) -> RunKind {
    RunKind::classifier(
        FEATURES_KIND,
        Arc::new(move |run: &Path, info: RunInfo, _: &Registry| {
            Ok(Box::new(FeatureClassifier::open(run, info, compute)?) as Box<dyn Classifier>)
        }),
    )
}

#[derive(Serialize)]
struct FitConfig<'a> {
    features_key: String,
    task: Task,
    model: &'a ModelSettings,
    fitted_on: Vec<&'a str>,
}

/// The rows of a feature table a run is fitted, scored and calibrated on.
#[derive(Debug, Clone, Copy)]
pub struct FitRows<'a> {
    /// The rows the classifier is fitted on.
    pub fit: &'a [usize],
    /// The rows it is scored on for its summary (and which may have chosen its settings).
    pub valid: &'a [usize],
    /// The rows its grade sets are set on, held out from fitting and from any choice of
    /// settings (the manifest's calib split); empty: the valid rows set them.
    pub calib: &'a [usize],
}

impl FitRows<'_> {
    /// The rows the grade sets (and the input gate's limit) are set on: the calib rows where
    /// there are any, else the valid rows.
    pub fn held_out(&self) -> &[usize] {
        if self.calib.is_empty() {
            self.valid
        } else {
            self.calib
        }
    }
}

/// Fits `settings` on the table's rows `rows.fit` for `task`, scores it on rows `rows.valid`,
/// sets its grade sets on `rows.held_out()`, and writes the run folder `out` (`run.json` last,
/// so that a folder with one holds a finished run); `extractor` is the backbone that made the
/// table.
pub fn fit_run(
    table: &FeatureTable,
    rows: FitRows<'_>,
    task: Task,
    settings: &ModelSettings,
    extractor: &Extractor,
    out: &Path,
) -> Result<FitSummary, FeatureError> {
    if extractor.spec() != &table.spec {
        return Err(FeatureError::Request(
            "the backbone given is not the one that made the features".into(),
        ));
    }
    let FitRows { fit, valid, .. } = rows;
    let x = table.matrix.select(fit);
    let y = table.labels(task, fit);
    let start = Instant::now();
    let model = settings.fit(&x, &y, task.classes())?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let probabilities_of = |rows: &[usize]| {
        rows.iter()
            .map(|&i| model.probabilities(table.matrix.row(i)))
            .collect::<Result<Vec<_>, _>>()
    };
    let probabilities = probabilities_of(valid)?;
    let actual = table.labels(task, valid);
    let predicted: Vec<usize> = probabilities.iter().map(|p| argmax(p)).collect();
    let injured: Vec<f64> = probabilities.iter().map(|p| 1.0 - p[0]).collect();
    let summary = FitSummary {
        model: settings.describe(),
        features: table.spec.describe(),
        fitted_on: fit.len(),
        fit_seconds,
        support_vectors: match &model {
            FeatureModel::Svm(m) => Some(m.support_vectors()),
            FeatureModel::Logistic(_) => None,
        },
        valid_exams: valid.len(),
        valid_accuracy: accuracy(&predicted, &actual),
        valid_auc: roc_auc(&injured, &actual.iter().map(|&c| c > 0).collect::<Vec<_>>()),
    };

    std::fs::create_dir_all(out).map_err(|e| FeatureError::io(out, e))?;
    let model_path = write_json(out, MODEL_FILE, &model)?;
    extractor.save(&out.join(BACKBONE_FILE))?;
    write_json(
        out,
        "config.json",
        &FitConfig {
            features_key: table.spec.key(),
            task,
            model: settings,
            fitted_on: fit
                .iter()
                .map(|&i| table.exams[i].row.exam_id.as_str())
                .collect(),
        },
    )?;
    write_json(out, "summary.json", &summary)?;

    let family = match settings {
        ModelSettings::Svm(_) => "svm",
        ModelSettings::Logistic(_) => "logistic",
    };
    let mut info = RunInfo::new(
        FEATURES_KIND,
        task,
        &format!("{}+{family}", table.spec.backbone),
    );
    info.model.description = format!("{}; {}", settings.describe(), table.spec.describe());
    info.finding = table.finding;
    info.classes = table.finding.class_names(task);
    if table.plane() != cruciate_volume::Plane::Sagittal {
        info.gate = Some(cruciate_infer::GateSettings {
            plane: table.plane(),
            ..Default::default()
        });
    }
    info.model.mode = Some("frozen".into());
    info.model.file = Some(MODEL_FILE.into());
    info.model.sha256 = Some(
        cruciate_infer::run::sha256_file(&model_path)
            .map_err(|e| FeatureError::io(&model_path, e))?,
    );
    info.input = Some(table.spec.input.clone());
    info.training = TrainingInfo {
        synthetic: table.synthetic,
        exams: Some([fit.len(), valid.len()]),
        dataset: None,
        region: table.spec.region.as_ref().map(|r| r.describe()),
    };
    info.settings = serde_json::to_value(FeatureRunSettings {
        spec: table.spec.clone(),
        backbone_file: BACKBONE_FILE.into(),
        model: settings.clone(),
    })
    .expect("settings serialise");
    // Grade sets from the held-out rows (the model's probabilities are Platt-scaled or a
    // logistic likelihood already: no temperature); written before run.json completes the run.
    let held_out = rows.held_out();
    Calibration::fit(
        &probabilities_of(held_out)?,
        &table.labels(task, held_out),
        CalibrationSettings {
            temperature: false,
            coverage: DEFAULT_COVERAGE,
        },
    )
    .and_then(|c| c.write(out))
    .map_err(|e| FeatureError::Request(e.to_string()))?;
    info.write(out)
        .map_err(|e| FeatureError::Request(e.to_string()))?;
    Ok(summary)
}

/// Writes `value` as pretty JSON to `out/name`, atomically.
fn write_json<T: Serialize>(out: &Path, name: &str, value: &T) -> Result<PathBuf, FeatureError> {
    let path = out.join(name);
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    cruciate_volume::atomic::write_atomically(&path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
    .map_err(|e| FeatureError::io(&path, e))?;
    Ok(path)
}
