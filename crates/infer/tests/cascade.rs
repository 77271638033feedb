//! A cascade opened from its run folder crops with its localiser, classifies the crop, and puts
//! the call and the heat map back into the exam's own slices and voxels.

use std::path::Path;
use std::sync::Arc;

use cruciate_data::Task;
use cruciate_infer::{
    CASCADE_KIND, CascadeSettings, Classifier, ExplainMethod, ExplainRequest, Explanation, HeatMap,
    InferError, Localiser, Prediction, Registry, RunInfo, RunKind,
};
use cruciate_volume::{Format, RoiBox, SourceMetadata, Volume};

/// Finds a fixed box.
struct FixedBox(RunInfo, RoiBox);

impl Localiser for FixedBox {
    fn info(&self) -> &RunInfo {
        &self.0
    }
    fn locate(&self, _: &Volume) -> Result<RoiBox, InferError> {
        Ok(self.1)
    }
}

/// Finds nothing.
struct NoBox(RunInfo);

impl Localiser for NoBox {
    fn info(&self) -> &RunInfo {
        &self.0
    }
    fn locate(&self, _: &Volume) -> Result<RoiBox, InferError> {
        Err(InferError::Input("no ACL region found".into()))
    }
}

/// Calls every exam injured with probability 0.75, whatever its shape.
struct AnyShape(RunInfo);

impl Classifier for AnyShape {
    fn info(&self) -> &RunInfo {
        &self.0
    }
    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        Ok(Prediction::new(
            self.0.classes.clone(),
            vec![0.25, 0.75],
            [0, exam.slices()],
            Vec::new(),
        ))
    }
}

/// Says what it saw: injured probability = the crop's mean intensity; heat on the crop's
/// brightest voxel.
struct MeanOfWhatItSees(RunInfo);

impl Classifier for MeanOfWhatItSees {
    fn info(&self) -> &RunInfo {
        &self.0
    }
    fn predict(&self, exam: &Volume) -> Result<Prediction, InferError> {
        if exam.shape != [2, 3, 3] {
            return Err(InferError::Input(format!(
                "saw {:?}, not the crop",
                exam.shape
            )));
        }
        let mean = exam.data.iter().sum::<f32>() as f64 / exam.data.len() as f64;
        Ok(Prediction::new(
            self.0.classes.clone(),
            vec![1.0 - mean, mean],
            [0, exam.slices()],
            vec![vec![0.0, 0.1], vec![0.0, 0.9]],
        ))
    }
    fn explain(&self, exam: &Volume, _: &ExplainRequest) -> Result<Explanation, InferError> {
        let prediction = self.predict(exam)?;
        let mut values = vec![0.0; exam.data.len()];
        let hottest = (0..exam.data.len())
            .max_by(|&a, &b| exam.data[a].total_cmp(&exam.data[b]))
            .unwrap();
        values[hottest] = 1.0;
        let whole = RoiBox {
            s0: 0,
            s1: 2,
            r0: 0,
            r1: 3,
            c0: 0,
            c1: 3,
        };
        Ok(Explanation {
            target: 1,
            slice_importance: vec![0.5, 0.5],
            prediction,
            method: ExplainMethod::Occlusion,
            heat: HeatMap::normalised(exam.shape, values, whole),
        })
    }
}

fn registry() -> Registry {
    let the_box = RoiBox {
        s0: 3,
        s1: 5,
        r0: 4,
        r1: 5,
        c0: 5,
        c1: 6,
    };
    Registry::new()
        .with(RunKind::localiser(
            "fixed-box",
            Arc::new(move |_: &Path, info| {
                Ok(Box::new(FixedBox(info, the_box)) as Box<dyn Localiser>)
            }),
        ))
        .with(RunKind::classifier(
            "mean",
            Arc::new(|_: &Path, info, _: &Registry| {
                Ok(Box::new(MeanOfWhatItSees(info)) as Box<dyn Classifier>)
            }),
        ))
        .with(RunKind::localiser(
            "no-box",
            Arc::new(|_: &Path, info| Ok(Box::new(NoBox(info)) as Box<dyn Localiser>)),
        ))
        .with(RunKind::classifier(
            "any-shape",
            Arc::new(|_: &Path, info, _: &Registry| {
                Ok(Box::new(AnyShape(info)) as Box<dyn Classifier>)
            }),
        ))
}

/// An exam of zeros with a bright 2x3x3 block at slices 3..5, rows 3..6, columns 4..7 and one
/// brighter voxel at (4, 5, 6).
fn exam() -> Volume {
    let shape = [8, 10, 12];
    let mut data = vec![0.0f32; 8 * 10 * 12];
    for s in 3..5 {
        for r in 3..6 {
            for c in 4..7 {
                data[(s * 10 + r) * 12 + c] = 0.5;
            }
        }
    }
    data[(4 * 10 + 5) * 12 + 6] = 1.0;
    Volume::new(data, shape, SourceMetadata::new(Format::Memory, "block")).unwrap()
}

/// A cascade run folder `root/both` holding its two parts, `loc` and `cls`.
fn write_cascade(root: &Path, margin: [usize; 3]) {
    write_cascade_of(root, ["fixed-box", "mean"], margin);
}

/// A cascade run folder `root/both` of a localiser and a classifier of `kinds`.
fn write_cascade_of(root: &Path, kinds: [&str; 2], margin: [usize; 3]) {
    for (name, kind) in [("loc", kinds[0]), ("cls", kinds[1])] {
        let part = root.join("both").join(name);
        std::fs::create_dir_all(&part).unwrap();
        RunInfo::new(kind, Task::Binary, name).write(&part).unwrap();
    }
    let mut info = RunInfo::new(CASCADE_KIND, Task::Binary, "cascade");
    info.settings = serde_json::to_value(CascadeSettings {
        localiser: "loc".into(),
        classifier: "cls".into(),
        margin,
    })
    .unwrap();
    info.write(&root.join("both")).unwrap();
}

#[test]
fn a_cascade_run_classifies_the_crop_and_maps_back() {
    let dir = tempfile::tempdir().unwrap();
    // The box (slices 3..5, row 4, column 5) with one voxel of margin in-plane: slices 3..5,
    // rows 3..6, columns 4..7, exactly the bright block.
    write_cascade(dir.path(), [0, 1, 1]);
    let cascade = registry().open_run(&dir.path().join("both")).unwrap();
    assert_eq!(cascade.info().kind, CASCADE_KIND);
    assert_eq!(cascade.info().model.name, "cls on loc");

    let v = exam();
    let p = cascade.predict(&v).unwrap();
    let mean = (17.0 * 0.5 + 1.0) / 18.0;
    assert!((p.injured_probability - mean).abs() < 1e-6, "{p:?}");
    assert_eq!(p.slices, [3, 5], "crop slices in exam coordinates");
    assert_eq!(p.strongest_slices, vec![3, 4]);

    let e = cascade.explain(&v, &ExplainRequest::default()).unwrap();
    assert_eq!(e.heat.shape, v.shape, "the map is on the exam's own grid");
    assert_eq!(e.heat.values.iter().sum::<f32>(), 1.0);
    assert_eq!(
        e.heat.slice(4)[5 * 12 + 6],
        1.0,
        "at the exam's brightest voxel"
    );
    assert_eq!(
        e.heat.region,
        RoiBox {
            s0: 3,
            s1: 5,
            r0: 3,
            r1: 6,
            c0: 4,
            c1: 7
        }
    );
    assert_eq!(e.prediction.slices, [3, 5]);
}

#[test]
fn a_cascade_whose_crop_the_classifier_refuses_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write_cascade(dir.path(), [1, 1, 1]);
    let cascade = registry().open_model(&dir.path().join("both")).unwrap();
    let e = cascade.predict(&exam()).unwrap_err();
    assert!(matches!(e, InferError::Input(_)));
    assert_eq!(e.to_string(), "saw [4, 3, 3], not the crop");
    // Behind the input gate (which refuses this small exam) both reasons are given.
    let gated = registry().open_run(&dir.path().join("both")).unwrap();
    let e = gated.predict(&exam()).unwrap_err();
    assert!(matches!(e, InferError::Input(_)));
    assert_eq!(
        e.to_string(),
        "not analysed: slices of 10x12; the model reads slices of at least 32x32 \
         (and the model: saw [4, 3, 3], not the crop)"
    );
    // A classifier kind opened as a localiser is refused in words.
    let e = registry()
        .open_localiser(&dir.path().join("both/cls"))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("a mean run is not a localiser"),
        "{e}"
    );
}

/// The texts of a prediction's region reasons.
fn region_reasons(p: &Prediction) -> Vec<&str> {
    p.verdict
        .reasons()
        .iter()
        .filter(|r| r.rule == cruciate_infer::Rule::Region)
        .map(|r| r.text.as_str())
        .collect()
}

#[test]
fn without_a_region_the_whole_exam_is_classified_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_cascade_of(dir.path(), ["no-box", "any-shape"], [1, 1, 1]);
    let cascade = registry().open_run(&dir.path().join("both")).unwrap();
    let p = cascade.predict(&exam()).unwrap();
    assert_eq!(p.slices, [0, 8], "the whole exam");
    assert_eq!(p.region, None);
    assert_eq!(
        p.warnings,
        vec!["no ACL region found; the whole exam was classified instead".to_string()]
    );
    // The gate abstains: a model of regions got none (besides the rules this small exam fails).
    let region = region_reasons(&p);
    assert_eq!(region, ["no ACL region found: the model reads ACL regions"]);
    // With a region, the result says which one the classifier saw.
    let dir = tempfile::tempdir().unwrap();
    write_cascade(dir.path(), [0, 1, 1]);
    let cascade = registry().open_run(&dir.path().join("both")).unwrap();
    let p = cascade.predict(&exam()).unwrap();
    assert_eq!(
        p.region.map(|r| (r.s0, r.s1, r.r0, r.r1)),
        Some((3, 5, 3, 6))
    );
    assert!(p.warnings.is_empty());
    // A box of one voxel at 1 mm spacing is no ACL: the call abstains on it.
    let region = region_reasons(&p);
    assert_eq!(
        region,
        [
            "the ACL region found is 1 x 1 mm over 2 mm of slices, which no ACL fills: the model \
          reads ACL regions"
        ]
    );
}
