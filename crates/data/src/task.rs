//! What a model predicts: healthy vs injured, or the four ACL grades; the class of each grade
//! and the names reports and the service show.

use serde::{Deserialize, Serialize};

/// The prediction task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Healthy (grade 0) vs injured (grades 1..3 merged, as in the study).
    #[default]
    Binary,
    /// The four grades 0..3.
    Grade,
}

impl Task {
    /// Both tasks, for listings.
    pub const ALL: [Task; 2] = [Task::Binary, Task::Grade];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Grade => "grade",
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        self.class_names().len()
    }

    /// The class of an ACL grade.
    pub fn class_of(self, grade: u8) -> usize {
        match self {
            Task::Binary => usize::from(grade > 0),
            Task::Grade => grade as usize,
        }
    }

    /// Class names, in class order.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            Task::Binary => &["healthy", "injured"],
            Task::Grade => &[
                "healthy",
                "minor strain",
                "partial rupture",
                "complete rupture",
            ],
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .ok_or_else(|| format!("unknown task {text:?} (binary or grade)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_fall_into_the_study_classes() {
        assert_eq!(
            (0..4).map(|g| Task::Binary.class_of(g)).collect::<Vec<_>>(),
            [0, 1, 1, 1]
        );
        assert_eq!(
            (0..4).map(|g| Task::Grade.class_of(g)).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(Task::Grade.classes(), 4);
        assert_eq!("grade".parse::<Task>(), Ok(Task::Grade));
        assert!(
            "grades"
                .parse::<Task>()
                .unwrap_err()
                .contains("binary or grade")
        );
    }
}
