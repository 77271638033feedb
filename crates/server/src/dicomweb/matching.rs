//! QIDO-RS matching of study-, series- and instance-level attributes (PS3.18 8.3.4, PS3.4
//! C.2.2.2): single values, wildcards (`*`, `?`), UID lists, date ranges, a modality among a
//! study's, and `fuzzymatching` of person names. Keys Cruciate does not match on at the level
//! searched are listed, for the answer's `Warning`.

use serde_json::Value;

/// What a search lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Studies.
    Study,
    /// The series of a study.
    Series,
    /// The instances of a series.
    Instance,
}

/// A search, parsed from the query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Search {
    /// `(tag, pattern)` pairs every result must match.
    pub keys: Vec<(Key, String)>,
    /// Person names matched loosely: case, and any name component by its start.
    pub fuzzy: bool,
    /// At most this many studies.
    pub limit: usize,
    /// After skipping this many.
    pub offset: usize,
    /// Query keys not matched on (ignored, as the standard allows, and said).
    pub ignored: Vec<String>,
}

/// An attribute Cruciate matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// StudyInstanceUID: one UID or a comma-separated list.
    StudyUid,
    /// PatientID: single value or wildcards.
    PatientId,
    /// PatientName: wildcards; loosely with `fuzzymatching=true`.
    PatientName,
    /// AccessionNumber: single value or wildcards.
    Accession,
    /// StudyDate: `YYYYMMDD`, or a range `A-B`, `A-`, `-B`.
    StudyDate,
    /// ModalitiesInStudy: the study holds a series of this modality.
    Modality,
    /// SeriesInstanceUID: one UID or a list.
    SeriesUid,
    /// Modality of a series.
    SeriesModality,
    /// SeriesNumber.
    SeriesNumber,
    /// SeriesDescription: wildcards.
    SeriesDescription,
    /// SOPInstanceUID: one UID or a list.
    InstanceUid,
    /// SOPClassUID: one UID or a list.
    SopClassUid,
    /// InstanceNumber.
    InstanceNumber,
}

impl Key {
    fn parse(name: &str, level: Level) -> Option<Self> {
        Some(match (level, name) {
            (Level::Study, "StudyInstanceUID" | "0020000D") => Key::StudyUid,
            (Level::Study, "PatientID" | "00100020") => Key::PatientId,
            (Level::Study, "PatientName" | "00100010") => Key::PatientName,
            (Level::Study, "AccessionNumber" | "00080050") => Key::Accession,
            (Level::Study, "StudyDate" | "00080020") => Key::StudyDate,
            (Level::Study, "ModalitiesInStudy" | "00080061") => Key::Modality,
            (Level::Series, "SeriesInstanceUID" | "0020000E") => Key::SeriesUid,
            (Level::Series, "Modality" | "00080060") => Key::SeriesModality,
            (Level::Series, "SeriesNumber" | "00200011") => Key::SeriesNumber,
            (Level::Series, "SeriesDescription" | "0008103E") => Key::SeriesDescription,
            (Level::Instance, "SOPInstanceUID" | "00080018") => Key::InstanceUid,
            (Level::Instance, "SOPClassUID" | "00080016") => Key::SopClassUid,
            (Level::Instance, "InstanceNumber" | "00200013") => Key::InstanceNumber,
            _ => return None,
        })
    }

    fn tag(self) -> &'static str {
        match self {
            Key::StudyUid => "0020000D",
            Key::PatientId => "00100020",
            Key::PatientName => "00100010",
            Key::Accession => "00080050",
            Key::StudyDate => "00080020",
            Key::Modality => "00080061",
            Key::SeriesUid => "0020000E",
            Key::SeriesModality => "00080060",
            Key::SeriesNumber => "00200011",
            Key::SeriesDescription => "0008103E",
            Key::InstanceUid => "00080018",
            Key::SopClassUid => "00080016",
            Key::InstanceNumber => "00200013",
        }
    }
}

impl Search {
    /// The search at `level` of query `pairs`; `limit` defaults to 100 (at most 1000).
    pub fn parse(pairs: &[(String, String)], level: Level) -> Result<Self, String> {
        let mut q = Search {
            limit: 100,
            ..Search::default()
        };
        let number = |name: &str, v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{name}={v:?}: expected a whole number"))
        };
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => q.limit = number(name, value)?.clamp(1, 1000),
                "offset" => q.offset = number(name, value)?,
                "fuzzymatching" => q.fuzzy = value == "true",
                // Every attribute Cruciate has is returned anyway.
                "includefield" => {}
                other => match Key::parse(other, level) {
                    Some(key) if !value.is_empty() => q.keys.push((key, value.clone())),
                    Some(_) => {}
                    None => q.ignored.push(other.to_string()),
                },
            }
        }
        Ok(q)
    }

    /// Whether `found` (a study, series or instance in DICOM JSON) matches every key.
    pub fn matches(&self, found: &Value) -> bool {
        self.keys.iter().all(|(key, pattern)| {
            let values = texts(found, key.tag());
            match key {
                Key::StudyUid | Key::SeriesUid | Key::InstanceUid | Key::SopClassUid => pattern
                    .split(',')
                    .any(|u| values.iter().any(|v| v == u.trim())),
                Key::StudyDate => values.iter().any(|v| in_dates(v, pattern)),
                Key::Modality | Key::SeriesModality | Key::SeriesNumber | Key::InstanceNumber => {
                    values.iter().any(|v| v == pattern)
                }
                Key::PatientName if self.fuzzy => values.iter().any(|v| fuzzy_name(v, pattern)),
                _ => values.iter().any(|v| wildcard(v, pattern)),
            }
        })
    }
}

/// The values of `tag` in a DICOM JSON object as text (a person name by its alphabetic form).
fn texts(object: &Value, tag: &str) -> Vec<String> {
    object[tag]["Value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o
                        .get("Alphabetic")
                        .and_then(Value::as_str)
                        .map(String::from),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `value` against `pattern` with `*` (any run) and `?` (any one character).
pub fn wildcard(value: &str, pattern: &str) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = (value.chars().collect(), pattern.chars().collect());
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while i < v.len() {
        if j < p.len() && (p[j] == '?' || p[j] == v[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '*' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(s) = star {
            j = s + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '*')
}

/// A person name loosely: case ignored, and the pattern (wildcards allowed) matching the whole
/// name or the start of any of its components (`^`, `,` or space separated).
fn fuzzy_name(name: &str, pattern: &str) -> bool {
    let (name, pattern) = (name.to_lowercase(), pattern.to_lowercase());
    let open = format!("{}*", pattern.trim_end_matches('*'));
    wildcard(&name, &pattern)
        || name
            .split(['^', ',', ' '])
            .filter(|c| !c.is_empty())
            .any(|c| wildcard(c, &open))
}

/// Whether date `value` (`YYYYMMDD`) lies in `range`: a date, `A-B`, `A-` or `-B`.
fn in_dates(value: &str, range: &str) -> bool {
    match range.split_once('-') {
        None => value == range,
        Some((from, to)) => (from.is_empty() || value >= from) && (to.is_empty() || value <= to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study() -> Value {
        serde_json::json!({
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
            "00100020": {"vr": "LO", "Value": ["ANON-12AB"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
            "00080020": {"vr": "DA", "Value": ["20261115"]},
            "00080061": {"vr": "CS", "Value": ["MR", "SR"]}
        })
    }

    fn q_at(pairs: &[(&str, &str)], level: Level) -> Search {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Search::parse(&owned, level).unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Search {
        q_at(pairs, Level::Study)
    }

    #[test]
    fn series_and_instance_keys_match_at_their_level_and_are_ignored_elsewhere() {
        let series = serde_json::json!({
            "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
            "00080060": {"vr": "CS", "Value": ["MR"]},
            "00200011": {"vr": "IS", "Value": [3]},
            "0008103E": {"vr": "LO", "Value": ["SAG PD FS"]}
        });
        for (pairs, hit) in [
            (vec![("Modality", "MR")], true),
            (vec![("Modality", "SEG")], false),
            (vec![("SeriesNumber", "3")], true),
            (vec![("SeriesNumber", "4")], false),
            (vec![("SeriesDescription", "SAG*")], true),
            (vec![("SeriesInstanceUID", "9,1.2.3.4")], true),
            (vec![("0020000E", "1.2.3")], false),
        ] {
            assert_eq!(
                q_at(&pairs, Level::Series).matches(&series),
                hit,
                "{pairs:?}"
            );
        }
        let instance = serde_json::json!({
            "00080018": {"vr": "UI", "Value": ["5.6"]},
            "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.4"]},
            "00200013": {"vr": "IS", "Value": [1]}
        });
        assert!(q_at(&[("InstanceNumber", "1")], Level::Instance).matches(&instance));
        assert!(!q_at(&[("SOPInstanceUID", "5.7")], Level::Instance).matches(&instance));
        // A study key asked of series is not matched on, and said.
        let mixed = q_at(&[("PatientID", "X"), ("Modality", "MR")], Level::Series);
        assert_eq!(mixed.ignored, ["PatientID"]);
        assert!(mixed.matches(&series));
    }

    #[test]
    fn keys_match_as_qido_asks() {
        let s = study();
        for (pairs, hit) in [
            (vec![("PatientID", "ANON-12AB")], true),
            (vec![("PatientID", "ANON-*")], true),
            (vec![("PatientID", "ANON-1?AB")], true),
            (vec![("PatientID", "ANON-13*")], false),
            (vec![("StudyInstanceUID", "9.9,1.2.3")], true),
            (vec![("StudyDate", "20261101-20261130")], true),
            (vec![("StudyDate", "-20261114")], false),
            (vec![("StudyDate", "20261115")], true),
            (vec![("ModalitiesInStudy", "SR")], true),
            (vec![("ModalitiesInStudy", "CT")], false),
            (vec![("PatientName", "Doe^J*")], true),
            (vec![("PatientName", "jane")], false),
            (
                vec![("PatientName", "jane"), ("fuzzymatching", "true")],
                true,
            ),
            (
                vec![("00100020", "ANON-12AB"), ("StudyDate", "20261101-")],
                true,
            ),
        ] {
            assert_eq!(q(&pairs).matches(&s), hit, "{pairs:?}");
        }
    }

    #[test]
    fn paging_and_unknown_keys_are_read_once() {
        let query = q(&[
            ("limit", "5000"),
            ("offset", "2"),
            ("Bogus", "x"),
            ("includefield", "all"),
        ]);
        assert_eq!((query.limit, query.offset), (1000, 2));
        assert_eq!(query.ignored, ["Bogus"]);
        assert!(Search::parse(&[("limit".into(), "-1".into())], Level::Study).is_err());
        assert!(wildcard("abc", "*") && wildcard("", "*") && !wildcard("abc", "ab"));
    }
}
