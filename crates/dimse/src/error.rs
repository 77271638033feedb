//! What goes wrong on the network.

/// A DICOM network operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum DimseError {
    /// The peer could not be reached or the association failed.
    #[error("association with {peer}: {message}")]
    Association {
        /// `AE@host:port`.
        peer: String,
        /// Why.
        message: String,
    },
    /// The peer answered something that is not a DIMSE response.
    #[error("{peer}: {message}")]
    Protocol {
        /// `AE@host:port`.
        peer: String,
        /// Why.
        message: String,
    },
    /// A data set could not be encoded for sending.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// The instance.
        what: String,
        /// Why.
        message: String,
    },
    /// The listener could not start.
    #[error("cannot listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
}
