//! The exam as one clean volume, whatever it came in.
//!
//! `cruciate-volume` owns the [`Volume`] type that every other part of Cruciate works on
//! (f32 voxels `[slices, rows, cols]`, spacing in mm, patient-space orientation, acquisition
//! plane, source metadata) and the readers that produce it:
//!
//! | format | module | picked by |
//! |---|---|---|
//! | DICOM series: a folder, a zip, one file, or a list of files | [`dicom`] | `DICM` at byte 128, or a bare data set, or a folder / zip |
//! | NIfTI-1 and NIfTI-2, `.nii` / `.nii.gz`, either byte order | [`nifti`] | `sizeof_hdr` 348 / 540 and the magic string |
//! | numpy `.npy` (MRNet layout and any 3-D integer or float array) | [`npy`] | `\x93NUMPY` |
//! | KneeMRI `.pck` (a pickled numpy array) and its `metadata.csv` | [`kneemri`] | a pickle protocol 2+ header |
//!
//! Formats are recognised by their content ([`detect::sniff`]) before their extension; gzip
//! wrappers are opened and their content recognised in turn. Every refusal is a [`ReadError`]
//! that names the file and the problem in one line.
//!
//! [`export`] writes slices and montages as 8-bit PNG; [`stats`] gives the intensity summary that
//! `cruciate inspect` prints.

#![warn(missing_docs)]

pub mod atomic;
pub mod detect;
pub mod dicom;
mod elements;
mod error;
pub mod export;
mod geometry;
pub mod heat;
pub mod kneemri;
mod limits;
pub mod nifti;
pub mod npy;
mod options;
pub mod pickle;
mod read;
pub mod stats;
mod study;
mod volume;

/// Whether the readers decode JPEG-LS (built with the `jpegls` feature).
pub const JPEG_LS: bool = cfg!(feature = "jpegls");

pub use elements::{ElementKind, ElementType};
pub use error::{ErrorKind, ReadError};
pub use geometry::{Orientation, Plane, default_sagittal};
pub use limits::Limits;
pub use options::ReadOptions;
pub use read::{read_bytes, read_path, read_paths};
pub use study::{Accept, Study, StudySeries, read_study};
pub use volume::{Format, RoiBox, SliceSource, SourceMetadata, Volume};
