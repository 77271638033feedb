//! The `network` run kind: how a registry opens network run folders (and those from before
//! `run.json`), and the `run.json` a freshly trained network gets.

use std::path::Path;
use std::sync::Arc;

use cruciate_data::Task;
use cruciate_infer::{Classifier, Registry, RunInfo, RunKind};
use cruciate_prep::InputConfig;

use crate::Compute;
use crate::legacy::read_legacy_run;
use crate::network::{
    MODEL_FILE, NETWORK_KIND, NetworkClassifier, NetworkConfig, NetworkSettings, RecordLayout,
};

/// The `network` run kind on `compute`, for a [`Registry`]; it also reads run folders from
/// before `run.json`.
pub fn network_kind(compute: Compute) -> RunKind {
    RunKind::classifier(
        NETWORK_KIND,
        Arc::new(move |run: &Path, info: RunInfo, _: &Registry| {
            let network = NetworkClassifier::open(run, info, compute.device())?
                .with_engine(compute.engine_choice())?;
            Ok(Box::new(network) as Box<dyn Classifier>)
        }),
    )
    .with_legacy(Arc::new(read_legacy_run))
}

/// The run description of a freshly trained network (the caller adds provenance and the model
/// file's hash).
pub fn network_run_info(task: Task, network: &NetworkConfig, input: &InputConfig) -> RunInfo {
    let mut info = RunInfo::new(NETWORK_KIND, task, &network.name);
    info.input = Some(input.clone());
    info.model.file = Some(MODEL_FILE.into());
    info.settings = serde_json::to_value(NetworkSettings {
        network: network.clone(),
        record: RecordLayout::Model,
    })
    .expect("settings serialise");
    info
}
