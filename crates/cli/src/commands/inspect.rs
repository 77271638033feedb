//! `cruciate inspect`: what an exam is, in one screen or one JSON object.

use clap::Args;
use cruciate_volume::{Plane, StudySeries, Volume, stats::intensity_stats};
use serde::Serialize;
use serde_json::json;

use super::ExamArgs;

/// Arguments of `cruciate inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    exam: ExamArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `cruciate inspect`.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let study = args.exam.study()?;
    let series: Vec<SeriesRow> = study.series.iter().map(SeriesRow::of).collect();
    let volume = study.choose(
        Plane::Sagittal,
        args.exam.series.as_deref(),
        &mut |_| Ok(()),
    )?;
    let mut report = report(&volume);
    report["series"] = serde_json::to_value(&series)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&volume, &report);
        print_series(&series, &volume);
    }
    Ok(())
}

/// One series of the exam as `inspect` lists it.
#[derive(Debug, Serialize)]
struct SeriesRow {
    uid: String,
    description: Option<String>,
    plane: Plane,
    slices: usize,
    rows: usize,
    cols: usize,
    modality: Option<String>,
}

impl SeriesRow {
    fn of(s: &StudySeries) -> Self {
        let [slices, rows, cols] = s.shape;
        Self {
            uid: s.uid.clone(),
            description: s.description.clone(),
            plane: s.plane,
            slices,
            rows,
            cols,
            modality: s.modality.clone(),
        }
    }
}

/// Every series of the study, the one read marked `*`.
fn print_series(series: &[SeriesRow], read: &Volume) {
    if series.len() < 2 {
        return;
    }
    println!("series in the study ({}; * read above):", series.len());
    for s in series {
        let mark = if Some(&s.uid) == read.meta.series_id.as_ref() || s.uid == read.meta.path {
            '*'
        } else {
            ' '
        };
        println!(
            "  {mark} {:<8} {:>3} x {}x{}  {:<24} {}",
            s.plane.as_str(),
            s.slices,
            s.rows,
            s.cols,
            s.description.as_deref().unwrap_or("-"),
            s.uid
        );
    }
}

/// The JSON object `inspect --json` prints.
pub fn report(v: &Volume) -> serde_json::Value {
    let stats = intensity_stats(&v.data);
    let m = &v.meta;
    json!({
        "path": m.path,
        "format": m.format.as_str(),
        "plane": v.plane.as_str(),
        "slices": v.slices(),
        "rows": v.rows(),
        "cols": v.cols(),
        "spacing": v.spacing,
        "spacing_known": !m.spacing_unknown,
        "min": stats.map(|s| s.min),
        "max": stats.map(|s| s.max),
        "mean": stats.map(|s| s.mean),
        "p01": stats.map(|s| s.p01),
        "p99": stats.map(|s| s.p99),
        "stored_type": m.stored_type,
        "series_description": m.series_description,
        "modality": m.modality,
        "manufacturer": m.manufacturer,
        "scanner": m.scanner(),
        "field_strength_t": m.field_strength_t,
        "patient_id": m.patient_id,
        "study_id": m.study_id,
        "series_id": m.series_id,
        "orientation": v.orientation,
        "roi": v.roi,
        "notes": m.notes,
    })
}

fn print_text(v: &Volume, r: &serde_json::Value) {
    let opt = |key: &str| {
        r[key]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "-".into())
    };
    let num = |key: &str| r[key].as_f64().map_or("-".into(), |x| format!("{x:.6}"));
    println!("path         {}", v.meta.path);
    println!("format       {}", v.meta.format.as_str());
    println!("plane        {}", v.plane);
    println!(
        "shape        {} slices x {} rows x {} cols",
        v.slices(),
        v.rows(),
        v.cols()
    );
    match v.spacing_note() {
        Some(note) => println!("spacing      {note}"),
        None => println!(
            "spacing      {:.4} x {:.4} x {:.4} mm (slice x row x col)",
            v.spacing[0], v.spacing[1], v.spacing[2]
        ),
    }
    println!(
        "intensity    min {}  max {}  p1 {}  p99 {}",
        num("min"),
        num("max"),
        num("p01"),
        num("p99")
    );
    println!("stored type  {}", opt("stored_type"));
    println!("series       {}", opt("series_description"));
    println!("modality     {}", opt("modality"));
    println!("manufacturer {}", opt("manufacturer"));
    if let Some(roi) = v.roi {
        println!(
            "roi          slices {}..{} rows {}..{} cols {}..{}",
            roi.s0, roi.s1, roi.r0, roi.r1, roi.c0, roi.c1
        );
    }
    for note in &v.meta.notes {
        println!("note         {note}");
    }
}
