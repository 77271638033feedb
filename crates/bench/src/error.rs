//! Why a benchmark stopped.

/// A measurement that could not be taken: the failing step's own error.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The engine could not be set up or failed on a pass.
    #[error(transparent)]
    Engine(#[from] cruciate_engine::EngineError),
    /// Feature extraction failed.
    #[error(transparent)]
    Features(#[from] cruciate_features::FeatureError),
    /// An SVM fit or prediction failed.
    #[error(transparent)]
    Svm(#[from] cruciate_svm::SvmError),
    /// The synthetic exams could not be written.
    #[error(transparent)]
    Data(#[from] cruciate_data::DataError),
    /// The service could not be opened, started or stopped.
    #[error(transparent)]
    Server(#[from] cruciate_server::ServerError),
    /// A run could not be opened.
    #[error(transparent)]
    Model(#[from] cruciate_infer::InferError),
    /// The in-process analysis of an exam failed.
    #[error("analysing an exam in process: {0}")]
    Analysis(#[from] cruciate_server::job::JobError),
    /// Zipping an exam failed.
    #[error("zipping an exam: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The service under measurement answered other than a client expects.
    #[error("the service: {0}")]
    Service(String),
}

impl BenchError {
    /// An I/O error while doing `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
