//! What can go wrong in an engine.

/// An engine's failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// This build has no oneDNN.
    #[error(
        "this build has no oneDNN engine: install oneDNN (Debian: apt install libdnnl-dev) and \
         rebuild, or use --engine flex"
    )]
    Unavailable,
    /// A combination the engine or this CPU cannot run.
    #[error("{0}")]
    Unsupported(String),
    /// Layers that do not fit together.
    #[error("a convolution stack that does not fit together: {0}")]
    Stack(String),
    /// An input whose shape the stack cannot take.
    #[error("input of shape {0:?} does not fit the network: {1}")]
    Input([usize; 4], String),
    /// oneDNN refused or failed.
    #[error("{0}")]
    Library(String),
}
