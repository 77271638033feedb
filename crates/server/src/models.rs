//! The models a service runs: run folders or readings (`reading.json`: several findings of the
//! whole knee, each from its plane networks) given with `--model`, or the demo model bundled in
//! this crate (a `small` network trained on synthetic phantoms, `demo/`), written into the data
//! folder at the first start.

use std::path::{Path, PathBuf};

use cruciate_data::Finding;
use cruciate_infer::{Gate, ReadingRun, Registry, RunInfo, write_cascade};
use cruciate_volume::Plane;

use crate::ServerError;

/// The bundled demo model's `run.json`.
const DEMO_RUN: &[u8] = include_bytes!("../demo/run.json");
/// The bundled demo model's weights.
const DEMO_MODEL: &[u8] = include_bytes!("../demo/model.bpk");
/// The bundled demo model's domain reference (the input gate's training exams).
const DEMO_DOMAIN: &[u8] = include_bytes!("../demo/domain.json");
/// The bundled demo model's calibration (temperature and conformal scores).
const DEMO_CALIBRATION: &[u8] = include_bytes!("../demo/calibration.json");
/// The bundled demo model's drift reference (its validation exams' signals).
const DEMO_DRIFT: &[u8] = include_bytes!("../demo/drift.json");

/// One model the service runs.
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// Its name in the API (its run folder's name).
    pub name: String,
    /// Its run folder.
    pub run: PathBuf,
    /// What it is.
    pub what: Served,
    /// Its validation exams' signals, which each site's recent exams are compared with (a
    /// reading's: those of its drift run, [`ServedReading::drift_run`]); `None` where that run
    /// has no `drift.json`.
    pub drift: Option<std::sync::Arc<cruciate_infer::drift::DriftReference>>,
}

/// What a served model is.
#[derive(Debug, Clone)]
pub enum Served {
    /// One run: a model of one finding on one plane's series.
    Run(Box<RunInfo>),
    /// A reading of several findings, each by the networks of its planes.
    Reading(ServedReading),
}

/// A served reading, as the service sees it without opening its networks.
#[derive(Debug, Clone)]
pub struct ServedReading {
    /// Its findings, in order.
    pub findings: Vec<Finding>,
    /// Each plane network's run: `(finding, plane, run folder, run.json)`.
    pub plane_runs: Vec<(Finding, Plane, PathBuf, RunInfo)>,
}

impl ServedReading {
    /// The plane run whose drift reference the reading is watched against (see
    /// [`cruciate_infer::reading::drift_finding`]): its finding's first plane network.
    pub fn drift_run(&self) -> Option<&(Finding, Plane, PathBuf, RunInfo)> {
        let finding = self.findings[cruciate_infer::reading::drift_finding(&self.findings)?];
        self.plane_runs.iter().find(|(f, ..)| *f == finding)
    }

    /// The gate that chooses each plane's series, once per exam: the first network of the
    /// plane's (in the reading's order).
    pub fn plane_gates(&self) -> Vec<Gate> {
        let mut gates: Vec<Gate> = Vec::new();
        for (_, plane, _, info) in &self.plane_runs {
            if !gates.iter().any(|g| g.plane() == *plane) {
                gates.push(Gate::for_run(info));
            }
        }
        gates
    }
}

impl Served {
    /// Whether any of its networks was trained on synthetic exams.
    pub fn synthetic(&self) -> bool {
        match self {
            Served::Run(info) => info.synthetic(),
            Served::Reading(r) => r.plane_runs.iter().any(|(.., info)| info.synthetic()),
        }
    }

    /// Its runs: the one, or each plane network of a reading.
    pub fn runs<'a>(&'a self, run: &'a Path) -> Vec<(&'a Path, &'a RunInfo)> {
        match self {
            Served::Run(info) => vec![(run, info.as_ref())],
            Served::Reading(r) => r
                .plane_runs
                .iter()
                .map(|(_, _, folder, info)| (folder.as_path(), info))
                .collect(),
        }
    }

    /// Its kind in the API: the run's kind, or `reading`.
    pub fn kind(&self) -> &str {
        match self {
            Served::Run(info) => &info.kind,
            Served::Reading(_) => "reading",
        }
    }
}

/// The run or reading in folder `run`, with each of its runs' kinds known to `registry`.
fn served(run: &Path, registry: &Registry) -> Result<Served, ServerError> {
    let what = match ReadingRun::read(run)? {
        Some(reading) => {
            let mut plane_runs = Vec::new();
            for (finding, plane, folder) in reading.plane_runs(run)? {
                let info = registry.run_info(&folder)?;
                plane_runs.push((finding, plane, folder, info));
            }
            Served::Reading(ServedReading {
                findings: reading.findings.iter().map(|f| f.finding).collect(),
                plane_runs,
            })
        }
        None => Served::Run(Box::new(registry.run_info(run)?)),
    };
    for (folder, info) in what.runs(run) {
        if !registry.kinds().contains(&info.kind.as_str()) {
            return Err(ServerError::Config(format!(
                "{}: run kind {:?} is not known to this build (known: {})",
                folder.display(),
                info.kind,
                registry.kinds().join(", ")
            )));
        }
    }
    Ok(what)
}

/// The models a service runs; the first is the default.
#[derive(Debug, Clone)]
pub struct ServedModels {
    models: Vec<ServedModel>,
}

impl ServedModels {
    /// The models of `runs`, or the bundled demo model (written under `data/models/demo`) when
    /// `runs` is empty; with `region` (a localiser run and a margin), each model behind the
    /// localiser as a cascade run written under `data/models/roi/NAME` and served as `NAME-roi`.
    pub fn open(
        runs: &[PathBuf],
        data: &Path,
        registry: &Registry,
        region: Option<(&Path, [usize; 3])>,
    ) -> Result<Self, ServerError> {
        let mut runs = if runs.is_empty() {
            vec![install_demo(data)?]
        } else {
            runs.to_vec()
        };
        if let Some((localiser, margin)) = region {
            runs = runs
                .iter()
                .map(|run| behind_localiser(run, (localiser, margin), data, registry))
                .collect::<Result<_, _>>()?;
        }
        let mut models = Vec::new();
        for run in runs {
            let what = served(&run, registry)?;
            let name = run
                .file_name()
                .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
            if models.iter().any(|m: &ServedModel| m.name == name) {
                return Err(ServerError::Config(format!(
                    "two models are named {name:?}: give their run folders different names"
                )));
            }
            let reference = match &what {
                Served::Run(_) => Some(run.as_path()),
                Served::Reading(r) => r.drift_run().map(|(_, _, folder, _)| folder.as_path()),
            };
            let drift = match reference {
                Some(folder) => {
                    cruciate_infer::drift::DriftReference::read(folder)?.map(std::sync::Arc::new)
                }
                None => None,
            };
            models.push(ServedModel {
                name,
                run,
                what,
                drift,
            });
        }
        Ok(Self { models })
    }

    /// The default model.
    pub fn default_model(&self) -> &ServedModel {
        &self.models[0]
    }

    /// The model named `name`.
    pub fn get(&self, name: &str) -> Option<&ServedModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Every model.
    pub fn all(&self) -> &[ServedModel] {
        &self.models
    }
}

/// The cascade run of `localiser` (with `margin`) and `run`, written under `data/models/roi/`;
/// for a reading, a reading under the same name whose ACL model is that cascade.
fn behind_localiser(
    run: &Path,
    (localiser, margin): (&Path, [usize; 3]),
    data: &Path,
    registry: &Registry,
) -> Result<PathBuf, ServerError> {
    let name = run
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let out = data.join("models").join("roi").join(format!("{name}-roi"));
    let cascade = |classifier: &Path, out: &Path| {
        write_cascade(registry, (localiser, classifier), margin, out).map_err(|e| {
            ServerError::Config(format!(
                "the localiser {} in front of {}: {e}",
                localiser.display(),
                classifier.display()
            ))
        })
    };
    match ReadingRun::read(run)? {
        Some(reading) => {
            reading_behind_localiser(run, &reading, &out, cascade)?;
        }
        None => {
            cascade(run, &out)?;
        }
    }
    Ok(out)
}

/// Writes into `out` the reading `reading` (of folder `dir`) with its ACL model behind the
/// localiser (`cascade` writes that cascade run) and every other finding's model as it is.
/// The localiser finds the ACL on a sagittal series, so the reading's ACL model must be one
/// sagittal run: a combined run is refused, its regression having been fitted on the
/// probabilities of whole exams.
fn reading_behind_localiser(
    dir: &Path,
    reading: &ReadingRun,
    out: &Path,
    cascade: impl Fn(&Path, &Path) -> Result<String, ServerError>,
) -> Result<(), ServerError> {
    let refuse = |why: String| {
        Err(ServerError::Config(format!(
            "{}: {why}; serve it without the localiser",
            dir.display()
        )))
    };
    let Some(acl) = reading.findings.iter().find(|e| e.finding == Finding::Acl) else {
        return refuse("the reading has no ACL model for the localiser to go in front of".into());
    };
    if reading.across.is_some() {
        return refuse(
            "its findings inform each other by regressions fitted on the ACL model's \
             probabilities of whole exams, which a region would change (assemble it without \
             --fit-on to serve it so)"
                .into(),
        );
    }
    let acl_folder = cruciate_infer::combined::resolve(dir, &acl.run);
    if cruciate_infer::CombinedRun::read(&acl_folder)?.is_some() {
        return refuse(format!(
            "its ACL model {} combines planes by a regression fitted on the probabilities of \
             whole exams, which a region would change; the localiser goes in front of one \
             sagittal ACL run",
            acl_folder.display()
        ));
    }
    let plane = RunInfo::read(&acl_folder)?.map(|info| info.plane());
    if plane != Some(Plane::Sagittal) {
        return refuse(format!(
            "its ACL model {} is not a sagittal run: the localiser finds the ACL on a sagittal series",
            acl_folder.display()
        ));
    }
    let acl_out = out.join("acl-roi");
    cascade(&acl_folder, &acl_out)?;
    let mut findings = Vec::new();
    for entry in &reading.findings {
        let run = if entry.finding == Finding::Acl {
            PathBuf::from("acl-roi")
        } else {
            let folder = cruciate_infer::combined::resolve(dir, &entry.run);
            std::fs::canonicalize(&folder).map_err(|e| ServerError::io(&folder, e))?
        };
        findings.push(cruciate_infer::reading::FindingEntry {
            finding: entry.finding,
            run,
        });
    }
    std::fs::create_dir_all(out).map_err(|e| ServerError::io(out, e))?;
    ReadingRun::new(findings, None).write(out)?;
    Ok(())
}

/// Writes the bundled demo model into `data/models/demo` (again when its files differ) and
/// returns the folder.
pub fn install_demo(data: &Path) -> Result<PathBuf, ServerError> {
    let dir = data.join("models").join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| ServerError::io(&dir, e))?;
    for (name, bytes) in [
        ("run.json", DEMO_RUN),
        ("model.bpk", DEMO_MODEL),
        ("domain.json", DEMO_DOMAIN),
        ("calibration.json", DEMO_CALIBRATION),
        ("drift.json", DEMO_DRIFT),
    ] {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(bytes) {
            cruciate_volume::atomic::write_atomically(&path, |w| {
                std::io::Write::write_all(w, bytes)
            })
            .map_err(|e| ServerError::io(&path, e))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_model_is_installed_and_says_it_is_synthetic() {
        let dir = tempfile::tempdir().unwrap();
        let served = ServedModels::open(&[], dir.path(), &Registry::new(), None).unwrap_err();
        // A bare registry does not know the network kind: the error names it.
        assert!(served.to_string().contains("network"), "{served}");
        let info = RunInfo::read(&dir.path().join("models/demo"))
            .unwrap()
            .unwrap();
        assert!(info.synthetic(), "the demo model is labelled synthetic");
        assert_eq!(info.kind, "network");
        let path = info.model_path(&dir.path().join("models/demo")).unwrap();
        assert!(
            path.ends_with("model.bpk"),
            "and its weights match their hash"
        );
    }

    /// A reading goes behind the localiser with its ACL run as a cascade (written by the
    /// `cascade` given) and every other finding's model as it was; a reading whose ACL model is
    /// missing, not sagittal or combined over planes, or a reading whose findings inform each other,
    /// is refused in one line, nothing written.
    #[test]
    fn a_reading_goes_behind_the_localiser_through_its_sagittal_acl_run() {
        let dir = tempfile::tempdir().unwrap();
        let demo = install_demo(dir.path()).unwrap();
        let coronal = dir.path().join("coronal");
        std::fs::create_dir_all(&coronal).unwrap();
        let mut info = RunInfo::read(&demo).unwrap().unwrap();
        info.gate = Some(cruciate_infer::GateSettings {
            plane: Plane::Coronal,
            ..Default::default()
        });
        info.write(&coronal).unwrap();
        let combined = dir.path().join("combined");
        std::fs::create_dir_all(&combined).unwrap();
        cruciate_infer::CombinedRun {
            format: cruciate_infer::combined::COMBINED_FORMAT,
            finding: Finding::Acl,
            runs: Vec::new(),
            combiners: Vec::new(),
            fitted_on: "valid".into(),
            synthetic: true,
        }
        .write(&combined)
        .unwrap();
        let entry = |finding, run: &Path| cruciate_infer::reading::FindingEntry {
            finding,
            run: run.to_path_buf(),
        };
        let reading = |entries| ReadingRun::new(entries, None);
        let cascaded = std::cell::RefCell::new(Vec::new());
        let cascade = |classifier: &Path, out: &Path| {
            cascaded
                .borrow_mut()
                .push((classifier.to_path_buf(), out.to_path_buf()));
            Ok(String::new())
        };
        let out = dir.path().join("knee-roi");
        let mut informed = reading(vec![entry(Finding::Acl, &demo)]);
        informed.across = Some(cruciate_infer::AcrossFindings {
            combiners: Vec::new(),
            fitted_on: "valid".into(),
        });
        for (run, why) in [
            (
                reading(vec![entry(Finding::Meniscus, &demo)]),
                "has no ACL model",
            ),
            (
                reading(vec![entry(Finding::Acl, &coronal)]),
                "is not a sagittal run",
            ),
            (
                reading(vec![entry(Finding::Acl, &combined)]),
                "combines planes",
            ),
            (informed, "inform each other"),
        ] {
            let err = reading_behind_localiser(dir.path(), &run, &out, cascade)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{err}");
            assert!(err.contains("serve it without the localiser") && !err.contains('\n'));
            assert!(
                !out.exists() && cascaded.borrow().is_empty(),
                "nothing written"
            );
        }
        let knee = reading(vec![
            entry(Finding::Meniscus, Path::new("coronal")),
            entry(Finding::Acl, Path::new("models/demo")),
        ]);
        reading_behind_localiser(dir.path(), &knee, &out, cascade).unwrap();
        assert_eq!(
            *cascaded.borrow(),
            vec![(demo.clone(), out.join("acl-roi"))]
        );
        let written = ReadingRun::read(&out).unwrap().unwrap();
        assert_eq!(
            written.findings,
            vec![
                entry(Finding::Meniscus, &std::fs::canonicalize(&coronal).unwrap()),
                entry(Finding::Acl, Path::new("acl-roi")),
            ]
        );
    }
}
