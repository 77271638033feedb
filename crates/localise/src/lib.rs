//! ACL localisation before classification: the study's own fix for models that look in the
//! wrong place. A localiser finds the slice range holding the ligament and its in-plane box, so
//! that a classifier can be given that region alone.
//!
//! The design: a **heat-map network** on the `small` backbone. Each slice, with its two
//! neighbours as the three input channels, is scaled to a square of `size` pixels; the first
//! three blocks of the small CNN (stride 8) and a two-layer head give a map of `size / 8`
//! cells whose value is the probability that the cell lies inside the ACL box. Trained from ROI
//! boxes (the phantoms' `roi` column, KneeMRI's metadata) with each cell's target the fraction
//! of it the box covers, so the map keeps sub-cell information. The box is read off the maps
//! ([`mod@decode`]): the run of slices whose peak passes a threshold, then the box whose
//! coverage best fits their mean map ([`fit`]). Why this design rather than regressing six numbers: a map says
//! *where* and *whether* at once (no peak: nothing found), it is trained densely from every
//! slice, and a regressor of box corners from a whole exam has a single target per exam, too
//! few for the datasets of a few hundred exams this project trains on.
//!
//! - [`input`]: the slice stacks the network takes; [`target`]: the cell targets of a box.
//! - [`net`]: the network. [`mod@decode`]: maps to a box, or why there is none; [`fit`]: the
//!   box fitted to a map.
//! - [`train`]: training with Burn's Learner; [`calibrate`]: the decoding settings chosen on
//!   the valid split. [`run`]: the run folder, opened as a
//!   [`cruciate_infer::Localiser`].

#![warn(missing_docs)]

pub mod calibrate;
mod config;
pub mod decode;
mod error;
pub mod fit;
pub mod input;
pub mod net;
pub mod run;
pub mod target;
pub mod train;

pub use config::{LocaliserTraining, TrainedLocaliser};
pub use decode::{DecodeSettings, Found, decode};
pub use error::LocaliseError;
pub use input::LocaliserInput;
pub use run::{LOCALISER_KIND, LocaliserRun, localiser_kind};
pub use train::train_localiser;
