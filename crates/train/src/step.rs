//! The exam model as Burn's Learner trains it: a training step (cross entropy weighted per exam,
//! optional L1 penalty, a stop on a non-finite loss) and a validation step.

use std::sync::{Arc, Mutex};

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::train::metric::{AccuracyInput, Adaptor, ConfusionStatsInput, LossInput};
use burn::train::{InferenceStep, Interrupter, ItemLazy, TrainOutput, TrainStep};
use cruciate_models::loss::exam_weighted_cross_entropy;
use cruciate_models::{BackboneTrainer, ExamModel};

use crate::loader::ExamBatch;

/// Stops training at the first non-finite loss and remembers where it happened.
#[derive(Clone, Default)]
pub struct NanGuard {
    interrupter: Option<Interrupter>,
    tripped: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for NanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NanGuard")
            .field("tripped", &self.tripped())
            .finish()
    }
}

impl NanGuard {
    /// A guard that stops through `interrupter`.
    pub fn new(interrupter: Interrupter) -> Self {
        Self {
            interrupter: Some(interrupter),
            tripped: Arc::default(),
        }
    }

    /// Where the loss stopped being finite, if it did.
    pub fn tripped(&self) -> Option<String> {
        self.tripped.lock().map(|t| t.clone()).unwrap_or(None)
    }

    fn trip(&self, message: String) {
        if let Ok(mut slot) = self.tripped.lock() {
            slot.get_or_insert(message.clone());
        }
        if let Some(i) = &self.interrupter {
            i.stop(Some(&message));
        }
    }
}

/// An exam model with what its training step needs.
#[derive(Module, Debug)]
pub struct TrainingModel {
    /// The network.
    pub model: ExamModel,
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
    #[module(skip)]
    l1: f64,
    #[module(skip)]
    guard: NanGuard,
    #[module(skip)]
    engine: Option<Arc<BackboneTrainer>>,
    /// Two-class heads side by side in the logits of a joint network; 1 otherwise.
    #[module(skip)]
    heads: usize,
}

impl TrainingModel {
    /// Wraps `model` with the loss's class weights, an L1 factor and a guard.
    pub fn new(
        model: ExamModel,
        class_weights: Option<Vec<f32>>,
        l1: f64,
        guard: NanGuard,
    ) -> Self {
        Self {
            model,
            class_weights,
            l1,
            guard,
            engine: None,
            heads: 1,
        }
    }

    /// The same for a joint network: `heads` two-class heads side by side in the logits (one per
    /// finding), its loss the sum of theirs, `class_weights` two per head in the same order.
    pub fn with_heads(mut self, heads: usize) -> Self {
        self.heads = heads.max(1);
        self
    }

    /// The same, with the backbone's passes on a fast engine (`None`: Burn alone). Runs with an
    /// L1 penalty stay on Burn, which differentiates the penalty too.
    pub fn with_engine(mut self, engine: Option<BackboneTrainer>) -> Self {
        self.engine = engine.filter(|_| self.l1 == 0.0).map(Arc::new);
        self
    }

    /// The loss of `logits` against the batch's targets: for a joint network, the sum of each
    /// finding's (so that every head learns at the scale it would alone).
    fn loss(&self, logits: Tensor<2>, batch: &ExamBatch) -> Tensor<1> {
        let weights = self.class_weights.as_deref();
        if self.heads == 1 {
            return exam_weighted_cross_entropy(logits, batch.targets.clone(), weights);
        }
        let answers = self.answers(logits);
        (0..self.heads)
            .map(|h| {
                exam_weighted_cross_entropy(
                    answers.clone().narrow(0, h, 1),
                    batch.targets.clone().narrow(0, h, 1),
                    weights.map(|w| &w[2 * h..2 * h + 2]),
                )
            })
            .reduce(|a, b| a + b)
            .expect("a joint network has heads")
    }

    /// One row of scores per answer: the logits `[1, K]` of a single-finding network as they
    /// are, those of a joint network as `[heads, 2]` (so that Burn's accuracy and AUROC pool
    /// the (exam, finding) pairs).
    fn answers(&self, logits: Tensor<2>) -> Tensor<2> {
        if self.heads == 1 {
            logits
        } else {
            logits.reshape([self.heads, 2])
        }
    }

    /// Logits, loss and gradients with the backbone on the fast engine; `None` (after a log
    /// line) when the engine fails, so that the step is computed by Burn instead.
    fn engine_step(&self, batch: &ExamBatch) -> Option<(Tensor<2>, Tensor<1>, GradientsParams)> {
        let engine = self.engine.as_ref()?;
        engine
            .step(&self.model, batch.slices.clone(), |logits| {
                self.loss(logits, batch)
            })
            .inspect_err(|e| {
                tracing::warn!("the training engine failed ({e}); Burn computes this step")
            })
            .ok()
    }

    /// Logits and loss, by Burn (the training step's fallback, whose backbone must be on the
    /// autodiff graph) or, for validation (`fast`), with the backbone on the engine.
    fn outputs(&self, batch: &ExamBatch, fast: bool) -> (Tensor<2>, Tensor<1>) {
        let engine = self.engine.as_ref().filter(|_| fast).and_then(|e| {
            e.forward(&self.model, batch.slices.clone())
                .inspect_err(|e| tracing::warn!("the engine failed ({e}); Burn computes this step"))
                .ok()
        });
        let logits = match engine {
            Some(out) => out.logits,
            None => self.model.forward(batch.slices.clone()).logits,
        };
        let loss = self.loss(logits.clone(), batch);
        (logits, loss)
    }
}

/// Sum of absolute values of every trained float parameter.
fn l1_norm(module: &ExamModel) -> Option<Tensor<1>> {
    struct Sum(Option<Tensor<1>>);
    impl ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.is_require_grad() {
                let s = param.val().abs().sum();
                self.0 = Some(match self.0.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    let mut sum = Sum(None);
    module.visit(&mut sum);
    sum.0
}

/// A step's loss, scores and targets for Burn's metrics.
pub struct StepOutput {
    /// Loss of the step, `[1]`.
    pub loss: Tensor<1>,
    /// Logits `[1, K]`; a joint network's `[heads, 2]`.
    pub logits: Tensor<2>,
    /// Class `[1]`; a joint network's `[heads]`.
    pub targets: Tensor<1, Int>,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, burn_std::ExecutionError> {
        self.loss.device().flush()?;
        Ok(Self {
            loss: self.loss.without_autodiff(),
            logits: self.logits.without_autodiff(),
            targets: self.targets.without_autodiff(),
        })
    }
}

impl Adaptor<LossInput> for StepOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl Adaptor<AccuracyInput> for StepOutput {
    fn adapt(&self) -> AccuracyInput {
        AccuracyInput::new(self.logits.clone(), self.targets.clone())
    }
}

/// Healthy vs injured, whatever the task: scores `[P(healthy), P(injured)]`, so that Burn's AUROC
/// reports the study's binary AUC for grade models too.
impl Adaptor<ConfusionStatsInput> for StepOutput {
    fn adapt(&self) -> ConfusionStatsInput {
        let [n, k] = self.logits.dims();
        let probs = softmax(self.logits.clone(), 1);
        let healthy = probs.clone().slice([0..n, 0..1]);
        let injured = probs.slice([0..n, 1..k]).sum_dim(1);
        let targets = self.targets.clone().greater_elem(0).int().one_hot(2).bool();
        ConfusionStatsInput::new(Tensor::cat(vec![healthy, injured], 1), targets)
    }
}

impl TrainStep for TrainingModel {
    type Input = ExamBatch;
    type Output = StepOutput;

    fn step(&self, batch: ExamBatch) -> TrainOutput<StepOutput> {
        let engine = self.engine_step(&batch);
        let (logits, mut loss) = match &engine {
            Some((logits, loss, _)) => (logits.clone(), loss.clone()),
            None => self.outputs(&batch, false),
        };
        if self.l1 > 0.0
            && let Some(norm) = l1_norm(&self.model)
        {
            loss = loss + norm * self.l1;
        }
        let value = loss.clone().into_scalar::<f32>();
        let item = |loss: Tensor<1>| StepOutput {
            loss,
            logits: self.answers(logits.clone()),
            targets: batch.targets.clone(),
        };
        if !value.is_finite() {
            let (epoch, position) = batch.position;
            self.guard.trip(format!(
                "loss is {value} at epoch {epoch}, batch {position} (exam {})",
                batch.exam_id
            ));
            return TrainOutput {
                grads: GradientsParams::new(),
                item: item(loss.detach()),
            };
        }
        if let Some((_, _, grads)) = engine {
            return TrainOutput {
                grads,
                item: item(loss),
            };
        }
        let grads = loss.backward();
        TrainOutput::new(self, grads, item(loss))
    }
}

impl InferenceStep for TrainingModel {
    type Input = ExamBatch;
    type Output = StepOutput;

    fn step(&self, batch: ExamBatch) -> StepOutput {
        let (logits, loss) = self.outputs(&batch, true);
        StepOutput {
            loss,
            logits: self.answers(logits),
            targets: batch.targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use cruciate_engine::{EngineChoice, EngineKind, Precision, dnnl};
    use cruciate_models::BackboneKind;
    use cruciate_models::SlicePooling;

    use super::*;

    /// A joint network's loss is the sum of its findings' losses, each weighted by its own
    /// classes' weights; its metrics see one row per finding.
    #[test]
    fn a_joint_loss_sums_the_findings_losses() {
        let device = Device::flex();
        let model = ExamModel::new(
            BackboneKind::Small.init(&device),
            128,
            4,
            SlicePooling::Max,
            &device,
        );
        let weights = vec![1.0, 2.0, 1.0, 3.0];
        let joint =
            TrainingModel::new(model, Some(weights), 0.0, NanGuard::default()).with_heads(2);
        let batch = ExamBatch {
            slices: Tensor::random([2, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device),
            targets: Tensor::from_data(TensorData::new(vec![1i64, 0], [2]), &device),
            exam_id: "x".into(),
            position: (1, 1),
        };
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.5f32, -0.5, 0.2, 0.9], [1, 4]),
            &device,
        );
        let loss = joint.loss(logits.clone(), &batch).into_scalar::<f32>();
        let nll = |own: f32, other: f32| (1.0f32 + (other - own).exp()).ln();
        // Finding 1 is positive (weight 2), finding 2 negative (weight 1).
        let want = 2.0 * nll(-0.5, 0.5) + nll(0.2, 0.9);
        assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
        let out = InferenceStep::step(&joint, batch);
        assert_eq!(out.logits.dims(), [2, 2]);
        assert_eq!(out.targets.dims(), [2]);
    }

    /// Relative L2 distance `|a - b| / |b|` of two tensors' values.
    fn relative<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let values = |t: Tensor<D>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let (a, b) = (values(a), values(b));
        let diff: f32 = a.iter().zip(&b).map(|(p, q)| (p - q).powi(2)).sum();
        let norm: f32 = b.iter().map(|q| q * q).sum();
        (diff / norm.max(f32::MIN_POSITIVE)).sqrt()
    }

    /// Every float parameter's gradient in one set against another's: both present or both
    /// absent, and within `tolerance` (relative L2) when present; counts those compared.
    struct SameGradients<'a> {
        ours: &'a GradientsParams,
        reference: &'a GradientsParams,
        tolerance: f32,
        what: String,
        compared: usize,
    }

    impl ModuleVisitor for SameGradients<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let ours = self.ours.get::<D>(param.id);
            let theirs = self.reference.get::<D>(param.id);
            let dims = param.val().dims();
            assert_eq!(
                ours.is_some(),
                theirs.is_some(),
                "{}: a {dims:?} gradient only one side has",
                self.what
            );
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                let error = relative(ours, theirs);
                assert!(
                    error <= self.tolerance,
                    "{}: a {dims:?} gradient differs by {error:.2e}",
                    self.what
                );
                self.compared += 1;
            }
        }
    }

    /// Every batch norm's running mean and variance, in stack order.
    fn running_statistics(model: &ExamModel) -> Vec<Tensor<1>> {
        model
            .backbone
            .stack_with_params()
            .1
            .into_iter()
            .filter_map(|layer| layer?.norm)
            .flat_map(|n| [n.running_mean.value_sync(), n.running_var.value_sync()])
            .collect()
    }

    /// A training step with the backbone on oneDNN gives Burn's gradients for every parameter
    /// (head, convolutions and batch norms alike), the same loss and the same running
    /// statistics afterwards, for every kind of backbone: a plain chain (MRNet's AlexNet),
    /// batch norms (`small`), shortcuts (ResNet-18) and concatenations (SqueezeNet); its
    /// validation step the same logits. f32 on both sides: the sums differ only in the order
    /// they round in, which 1e-4 relative covers.
    #[test]
    fn engine_steps_match_burns() {
        if !dnnl::available() {
            assert!(
                std::env::var("CRUCIATE_DNNL").map_or(true, |v| v != "required"),
                "CRUCIATE_DNNL=required, but this build has no oneDNN"
            );
            return;
        }
        let device = Device::flex().autodiff();
        for (kind, size) in [
            (BackboneKind::AlexNet, 96),
            (BackboneKind::Small, 64),
            (BackboneKind::ResNet18, 64),
            (BackboneKind::SqueezeNet, 64),
        ] {
            let what = format!("{kind:?}");
            device.seed(3);
            // The mean over slices: a maximum's gradient depends on which slice wins a tie,
            // and SqueezeNet's pooled features tie exactly between slices in some channels
            // (30 of 512 here, measured), which the two engines' last-bit differences break
            // apart differently; the mean has one gradient.
            let make = || {
                ExamModel::new(
                    kind.init(&device),
                    kind.channels(),
                    2,
                    SlicePooling::Mean,
                    &device,
                )
            };
            // Two models with the same values and running statistics of their own (a clone
            // would share them).
            let model = make();
            let twin = make().load_record(model.clone().into_record());
            let batch = ExamBatch {
                slices: Tensor::random([3, 3, size, size], Distribution::Normal(0.0, 1.0), &device),
                targets: Tensor::from_data(TensorData::new(vec![1i64], [1]), &device),
                exam_id: "x".into(),
                position: (1, 1),
            };
            let weights = Some(vec![1.0, 2.0]);
            let burn = TrainingModel::new(model, weights.clone(), 0.0, NanGuard::default());
            let choice = EngineChoice {
                engine: EngineKind::Dnnl,
                precision: Some(Precision::F32),
            };
            let engine = cruciate_models::BackboneTrainer::new(choice).unwrap();
            let fast =
                TrainingModel::new(twin, weights, 0.0, NanGuard::default()).with_engine(engine);
            let reference = TrainStep::step(&burn, batch.clone());
            let ours = TrainStep::step(&fast, batch.clone());
            let scalar = |t: Tensor<1>| t.into_scalar::<f32>();
            let (a, b) = (scalar(reference.item.loss), scalar(ours.item.loss));
            assert!(
                (a - b).abs() < 1e-5 * a.abs().max(1.0),
                "{what}: loss {a} vs {b}"
            );
            let mut same = SameGradients {
                ours: &ours.grads,
                reference: &reference.grads,
                tolerance: 1e-4,
                what: what.clone(),
                compared: 0,
            };
            burn.model.visit(&mut same);
            assert_eq!(
                same.compared,
                reference.grads.len(),
                "{what}: every gradient"
            );
            let (theirs, mine) = (
                running_statistics(&burn.model),
                running_statistics(&fast.model),
            );
            assert_eq!(theirs.len(), mine.len());
            for (i, (a, b)) in mine.into_iter().zip(theirs).enumerate() {
                let error = relative(a, b);
                assert!(
                    error <= 1e-5,
                    "{what}: running statistic {i} differs by {error:.2e}"
                );
            }
            // Validation as Burn's learner runs it: the model off the autodiff device, batch
            // norms by their running statistics.
            let theirs = burn
                .model
                .valid()
                .forward(batch.slices.clone().without_autodiff())
                .logits;
            let error = relative(InferenceStep::step(&fast, batch.clone()).logits, theirs);
            assert!(
                error <= 1e-4,
                "{what}: validation logits differ by {error:.2e}"
            );
        }
    }
}
