//! A model file someone edited is refused with a reason, never used to index out of range.

use cruciate_svm::{FeatureModel, LogisticSettings, Matrix, ModelSettings, SvcSettings};

fn data() -> (Matrix, Vec<usize>) {
    let rows: Vec<Vec<f32>> = (0..24)
        .map(|i| vec![(i % 4) as f32 + 0.1 * i as f32, (i % 3) as f32, 1.0])
        .collect();
    let y = (0..24).map(|i| i % 4).collect();
    (Matrix::from_rows(&rows).unwrap(), y)
}

fn reread(model: &FeatureModel, edit: impl Fn(&mut serde_json::Value)) -> FeatureModel {
    let mut value = serde_json::to_value(model).unwrap();
    edit(&mut value);
    serde_json::from_value(value).unwrap()
}

#[test]
fn edited_models_are_refused_by_validation() {
    let (x, y) = data();
    let svm = ModelSettings::Svm(SvcSettings::default())
        .fit(&x, &y, 4)
        .unwrap();
    svm.validate(4).unwrap();
    assert!(
        svm.validate(2).is_err(),
        "a grade model is not a binary run's"
    );
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("support index", |v| {
            v["pairs"][0]["support"][0] = 999.into()
        }),
        ("pair class", |v| v["pairs"][0]["high"] = 7.into()),
        ("coefficients", |v| {
            v["pairs"][1]["coef"] = serde_json::json!([1.0])
        }),
        ("support matrix", |v| v["support"]["rows"] = 1000.into()),
    ];
    for (what, edit) in edits {
        let damaged = reread(&svm, edit);
        assert!(damaged.validate(4).is_err(), "{what}");
    }
    let logistic = ModelSettings::Logistic(LogisticSettings::default())
        .fit(&x, &y, 4)
        .unwrap();
    logistic.validate(4).unwrap();
    let damaged = reread(&logistic, |v| v["weights"][0] = serde_json::json!([1.0]));
    assert!(damaged.validate(4).is_err());
    // Rows of the wrong width are an error, not a panic.
    assert!(svm.probabilities(&[1.0]).is_err() && logistic.probabilities(&[f32::NAN; 3]).is_err());
}
