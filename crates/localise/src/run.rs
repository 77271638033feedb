//! A localiser's run folder, opened as a [`Localiser`]:
//!
//! ```text
//! RUN/run.json       kind "localiser", the model file and its SHA-256, the settings below
//! RUN/model.bpk      the heat-map network (a Burn record)
//! RUN/summary.json   what training did (exams, slices per epoch, seconds)
//! ```

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::store::ModuleRecord;
use cruciate_data::{DatasetInfo, Task};
use cruciate_infer::run::{TrainingInfo, sha256_file};
use cruciate_infer::{InferError, Localiser, RunInfo, RunKind};
use cruciate_models::Compute;
use cruciate_volume::{RoiBox, Volume};
use serde::{Deserialize, Serialize};

use crate::config::TrainedLocaliser;
use crate::input::LocaliserInput;
use crate::net::HeatmapNet;
use crate::{DecodeSettings, Found, LocaliseError, decode};

/// The kind name of localiser runs.
pub const LOCALISER_KIND: &str = "localiser";

const MODEL_FILE: &str = "model.bpk";
const SUMMARY_FILE: &str = "summary.json";

/// `run.json`'s settings of a localiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocaliserSettings {
    /// How exams become the input.
    pub input: LocaliserInput,
    /// How maps become a box.
    pub decode: DecodeSettings,
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), LocaliseError> {
    cruciate_volume::atomic::write_atomically(path, |w| w.write_all(bytes))
        .map_err(|e| LocaliseError::io(path, e))
}

/// Writes the run folder of a trained network (`dataset_root`: the manifest's folder, whose
/// dataset.json says whether the data was synthetic).
pub(crate) fn write_run(
    out: &Path,
    net: HeatmapNet,
    trained: &TrainedLocaliser,
    dataset_root: &Path,
) -> Result<(), LocaliseError> {
    let model = out.join(MODEL_FILE);
    let bytes = net
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| LocaliseError::run(&model, e.to_string()))?;
    write_bytes(&model, &bytes)?;
    let summary = serde_json::to_vec_pretty(trained).expect("summary serialises");
    write_bytes(&out.join(SUMMARY_FILE), &summary)?;
    let mut info = RunInfo::new(LOCALISER_KIND, Task::Binary, "heatmap-small");
    info.model.description = format!(
        "ACL localiser: heat maps on the small backbone's first three blocks, {}x{} input, {} epochs",
        trained.settings.input.size, trained.settings.input.size, trained.settings.epochs
    );
    info.model.file = Some(MODEL_FILE.into());
    info.model.sha256 = Some(sha256_file(&model).map_err(|e| LocaliseError::io(&model, e))?);
    info.model.epoch = Some(trained.settings.epochs);
    let dataset = DatasetInfo::read(dataset_root);
    info.training = TrainingInfo {
        synthetic: dataset.as_ref().is_some_and(|d| d.synthetic),
        exams: Some(trained.exams),
        dataset: dataset.map(|d| d.source),
        region: None,
    };
    info.settings = serde_json::to_value(LocaliserSettings {
        input: trained.settings.input,
        decode: trained.decode,
    })
    .expect("settings serialise");
    info.write(out)
        .map_err(|e| LocaliseError::run(out, e.to_string()))
}

/// The cell probabilities of every slice of `exam` under `net`, `[slices, grid, grid]`.
pub(crate) fn maps(
    net: &HeatmapNet,
    input: &LocaliserInput,
    exam: &Volume,
    device: &Device,
) -> Vec<f32> {
    let n = input.size;
    let stacks = input.stacks(exam);
    let per = 3 * n * n;
    let mut out = Vec::with_capacity(exam.slices() * input.grid().pow(2));
    for chunk in stacks.chunks(per * 16) {
        let b = chunk.len() / per;
        let x = Tensor::<1>::from_floats(chunk, device).reshape([b, 3, n, n]);
        let p = burn::tensor::activation::sigmoid(net.forward(x));
        out.extend(p.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    out
}

/// A trained localiser.
pub struct LocaliserRun {
    info: RunInfo,
    settings: LocaliserSettings,
    net: HeatmapNet,
    device: Device,
}

impl LocaliserRun {
    /// Opens the run folder `run` described by `info`.
    pub fn open(run: &Path, info: RunInfo) -> Result<Self, InferError> {
        let settings: LocaliserSettings = info.settings(run)?;
        settings
            .input
            .validate()
            .map_err(|e| InferError::run(run, e))?;
        let path = info.model_path(run)?;
        let record =
            ModuleRecord::load(&path).map_err(|e| InferError::run(&path, e.to_string()))?;
        let device = Compute::CPU.device();
        let net = HeatmapNet::new(&device)
            .try_load_record(record)
            .map_err(|e| {
                InferError::run(&path, format!("does not fit the localiser's network: {e}"))
            })?;
        Ok(Self {
            info,
            settings,
            net,
            device,
        })
    }

    /// The cell probabilities of every slice, `[slices, grid, grid]`.
    pub fn maps(&self, exam: &Volume) -> Vec<f32> {
        maps(&self.net, &self.settings.input, exam, &self.device)
    }

    /// How its maps are read.
    pub fn decode_settings(&self) -> &DecodeSettings {
        &self.settings.decode
    }

    /// The box of `exam` with the evidence, or why there is none.
    pub fn find(&self, exam: &Volume) -> Result<Found, String> {
        if exam.slices() == 0 || exam.rows() < 8 || exam.cols() < 8 {
            return Err(format!(
                "an exam of {:?} voxels is too small to search",
                exam.shape
            ));
        }
        decode(
            &self.maps(exam),
            exam.shape,
            self.settings.input.grid(),
            &self.settings.decode,
        )
    }
}

impl Localiser for LocaliserRun {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn locate(&self, exam: &Volume) -> Result<RoiBox, InferError> {
        self.find(exam).map(|f| f.roi).map_err(InferError::Input)
    }
}

/// The `localiser` run kind, for a [`cruciate_infer::Registry`].
pub fn localiser_kind() -> RunKind {
    RunKind::localiser(
        LOCALISER_KIND,
        Arc::new(|run: &Path, info: RunInfo| {
            Ok(Box::new(LocaliserRun::open(run, info)?) as Box<dyn Localiser>)
        }),
    )
}
