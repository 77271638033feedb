//! The page's tables on when the model's answers can be taken at their word: what the input
//! gate refused, how calibrated the probabilities are, how often the grade sets hold the truth.

use super::number;
use crate::charts::{Series, reliability};
use crate::evaluate::{Evaluation, EvaluationReport};
use crate::report::Table;

/// The gate's, the calibration's and the grade sets' tables.
pub(super) fn tables(r: &EvaluationReport) -> Vec<Table> {
    let mut out = vec![gate_table(r), calibration_table(r)];
    out.extend(conformal_table(r));
    out
}

/// What the input gate made of the exams (the other figures score every one of them).
fn gate_table(r: &EvaluationReport) -> Table {
    let gate = &r.gate;
    let mut rows = vec![
        vec!["accepted".to_string(), gate.accepted.to_string()],
        vec!["not analysed".to_string(), gate.abstained.to_string()],
    ];
    rows.extend(
        gate.by_rule
            .iter()
            .map(|(rule, n)| vec![format!("  refused by {rule}"), n.to_string()]),
    );
    rows.extend(
        gate.examples
            .iter()
            .map(|(exam, why)| vec![format!("  e.g. {exam}"), why.clone()]),
    );
    Table {
        heading: "The input gate: exams outside the model's domain (scored above all the same)"
            .into(),
        header: ["", "exams"].map(String::from).to_vec(),
        rows,
    }
}

fn calibration_table(r: &EvaluationReport) -> Table {
    let c = &r.calibration;
    Table {
        heading: format!("Calibration on the {} split", r.split),
        header: ["", "model's own", "as shown"].map(String::from).to_vec(),
        rows: vec![
            vec!["calibration".into(), c.method.clone(), String::new()],
            vec![
                format!(
                    "expected calibration error ({} bins)",
                    crate::calibration::ECE_BINS
                ),
                number(c.ece_before),
                number(c.ece_after),
            ],
            vec!["log loss".into(), number(c.nll_before), number(c.nll_after)],
        ],
    }
}

fn conformal_table(r: &EvaluationReport) -> Option<Table> {
    let c = r.conformal.as_ref()?;
    let mut header = ["coverage asked", "held", "mean set size"]
        .map(String::from)
        .to_vec();
    header.extend(r.classes.iter().map(|n| format!("{n}: held / size")));
    let percent = |v: f64| format!("{:.1} %", 100.0 * v);
    Some(Table {
        heading: format!(
            "Grade sets (split conformal, thresholds from {} held-out exams; shown at {})",
            c.calibrated_on,
            percent(c.shown)
        ),
        header,
        rows: c
            .levels
            .iter()
            .map(|level| {
                let mut row = vec![
                    percent(level.target),
                    percent(level.coverage),
                    format!("{:.2}", level.mean_size),
                ];
                row.extend(
                    level
                        .per_class
                        .iter()
                        .map(|k| match (k.coverage, k.mean_size) {
                            (Some(held), Some(size)) => {
                                format!("{} / {size:.2} ({})", percent(held), k.exams)
                            }
                            _ => "no exams".into(),
                        }),
                );
                row
            })
            .collect(),
    })
}

/// The reliability diagram's curves: the probabilities shown and, where a temperature changed
/// them, the model's own.
pub(super) fn reliability_series(e: &Evaluation, shown: Vec<(f64, f64)>) -> Vec<Series> {
    let own: Vec<Vec<f64>> = e
        .scored
        .iter()
        .filter_map(|s| s.prediction.uncalibrated.clone())
        .collect();
    if own.is_empty() || own.len() != e.scored.len() {
        return vec![Series::new("model", shown)];
    }
    let actual: Vec<usize> = e.scored.iter().map(|s| s.class).collect();
    vec![
        Series::new(
            "model's own",
            reliability(&own, &actual, crate::calibration::ECE_BINS),
        ),
        Series::new("calibrated", shown),
    ]
}
