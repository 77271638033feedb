//! A feature folder opened again to fit on it: its table, and the backbone (and localiser)
//! that made it, checked to still make the same vectors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cruciate_data::{Manifest, read_exam};
use cruciate_infer::Registry;
use cruciate_models::Compute;

use crate::{Extractor, FeatureError, FeatureRegion, FeatureTable, RegionSource, WeightsSource};

/// Largest difference, relative to the stored vector's largest magnitude, between an exam's
/// stored features and the same features computed again: the extractor is deterministic, so
/// anything beyond f32 rounding over the backbone and pooling means other weights or input.
const REPRODUCED: f32 = 1e-3;

impl FeatureTable {
    /// The feature folder `dir` and an extractor that makes its vectors, on `compute`:
    /// `weights` when the backbone's weights have moved since the features were computed, and
    /// the localiser that cut the exams opened through `registry`. Refused when the weights or
    /// the localiser are not the ones recorded, or the first exam's vector is not reproduced.
    pub fn reopen(
        dir: &Path,
        weights: Option<&Path>,
        compute: Compute,
        registry: &Registry,
    ) -> Result<(FeatureTable, Extractor), FeatureError> {
        let table = FeatureTable::read(dir)?;
        let spec = &table.spec;
        let weights = match (&spec.weights, weights) {
            (WeightsSource::Random { .. }, _) => None,
            (WeightsSource::File { .. }, Some(w)) => Some(w.to_path_buf()),
            (WeightsSource::File { name, .. }, None) => {
                Some(table.weights_path.clone().ok_or_else(|| {
                    FeatureError::Request(format!(
                        "the features were made with {name}; say where it is with --weights"
                    ))
                })?)
            }
        };
        let region = table.region(dir, registry)?;
        let extractor = Extractor::new(
            &spec.backbone,
            weights.as_deref(),
            spec.input.pixel_scale,
            spec.input.clone(),
            spec.pooling.clone(),
            compute.device(),
        )?
        .with_engine(compute.engine_choice())?
        .with_region(region.as_ref().map(FeatureRegion::spec));
        if extractor.spec() != spec {
            return Err(FeatureError::invalid(
                dir,
                "the weights file is not the one the features were made with (its SHA-256 differs)",
            ));
        }
        table.check_reproduced(dir, &extractor, region.as_ref())?;
        Ok((table, extractor))
    }

    /// The region the table's exams were cut to, its localiser opened again and checked to
    /// be the one that cut them.
    fn region(
        &self,
        dir: &Path,
        registry: &Registry,
    ) -> Result<Option<FeatureRegion>, FeatureError> {
        let Some(spec) = &self.spec.region else {
            return Ok(None);
        };
        let RegionSource::Localiser { sha256, .. } = &spec.source else {
            return Ok(Some(FeatureRegion::manifest(spec.margin)));
        };
        let run = self.localiser_path.clone().ok_or_else(|| {
            FeatureError::invalid(dir, "cut by a localiser whose folder is not recorded")
        })?;
        let localiser = registry.open_localiser(&run)?;
        if localiser.info().model.sha256.as_ref() != Some(sha256) {
            return Err(FeatureError::invalid(
                dir,
                format!(
                    "the localiser at {} is not the one that cut these exams (its SHA-256 differs)",
                    run.display()
                ),
            ));
        }
        Ok(Some(FeatureRegion::localiser(
            Arc::from(localiser),
            run,
            spec.margin,
        )))
    }

    /// Computes the first exam's vector again (when its file is still there) and refuses a
    /// table whose stored vector differs.
    fn check_reproduced(
        &self,
        dir: &Path,
        extractor: &Extractor,
        region: Option<&FeatureRegion>,
    ) -> Result<(), FeatureError> {
        let Some(first) = self.exams.first() else {
            return Ok(());
        };
        let manifest = Manifest {
            root: PathBuf::from("/"),
            rows: Vec::new(),
        };
        let mut row = first.row.clone();
        row.path = first.source.clone();
        let exam = read_exam(&manifest, &row)
            .ok()
            .and_then(|exam| match region {
                Some(r) => r.cut(exam, &row.exam_id).ok(),
                None => Some(exam),
            });
        let Some(exam) = exam else {
            return Ok(());
        };
        let again = extractor.exam_features(&exam)?;
        let stored = self.matrix.row(0);
        let scale = stored.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let worst = again
            .iter()
            .zip(stored)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        if worst > REPRODUCED * scale {
            return Err(FeatureError::invalid(
                dir,
                format!(
                    "the backbone no longer reproduces the stored features of exam {} (difference {worst:.3e})",
                    first.row.exam_id
                ),
            ));
        }
        Ok(())
    }
}
