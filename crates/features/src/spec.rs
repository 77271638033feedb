//! What makes a feature vector, written down so that two vectors made the same way are known to
//! be comparable and a cache can be keyed on it.

use cruciate_prep::{InputConfig, PixelScale, Selection};

use crate::region::RegionSpec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How per-slice vectors become one exam vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Element-wise maximum over slices (MRNet's choice).
    Max,
    /// Mean over slices.
    Mean,
}

impl Pool {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Max => "max",
            Pool::Mean => "mean",
        }
    }

    /// A comma-separated list of pools (`max,mean`).
    pub fn parse_list(text: &str) -> Result<Vec<Pool>, String> {
        let pools = text
            .split(',')
            .map(|p| match p.trim() {
                "max" => Ok(Pool::Max),
                "mean" => Ok(Pool::Mean),
                other => Err(format!("pooling {other:?}: expected max or mean")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if pools.is_empty() {
            return Err("no pooling given".into());
        }
        Ok(pools)
    }
}

/// Which slices feed the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceChoice {
    /// The `n` central slices.
    Central(usize),
    /// The `n` slices around the exam's ACL box, cropped in-plane around it.
    Roi(usize),
    /// Every slice.
    All,
}

/// The most slices "all" takes.
const ALL_SLICES: usize = 4096;

impl std::str::FromStr for SliceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let count = |n: &str| match n.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{n:?} is not a positive number of slices")),
        };
        match s.split_once(':') {
            _ if s == "all" => Ok(Self::All),
            _ if s == "roi" => Ok(Self::Roi(16)),
            Some(("central", n)) => Ok(Self::Central(count(n)?)),
            Some(("roi", n)) => Ok(Self::Roi(count(n)?)),
            _ => Err(format!(
                "slices {s:?}: expected central:N, roi, roi:N or all"
            )),
        }
    }
}

impl SliceChoice {
    /// The input preparation for this choice at in-plane size `size`.
    pub fn input(self, size: usize) -> InputConfig {
        let (slices, selection) = match self {
            SliceChoice::Central(n) => (n, Selection::Central),
            SliceChoice::Roi(n) => (n, Selection::Roi),
            SliceChoice::All => (ALL_SLICES, Selection::Central),
        };
        InputConfig {
            slices,
            size,
            selection,
            ..InputConfig::default()
        }
    }
}

/// Where the backbone's weights came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsSource {
    /// A weights file: its name (for people) and SHA-256 (for the key).
    File {
        /// The file's name, without its folder.
        name: String,
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// Random initialisation from a seed (tests and baselines).
    Random {
        /// The seed.
        seed: u64,
    },
}

/// Everything that decides a feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// The backbone's name (`vgg16`, `resnet18`, ...).
    pub backbone: String,
    /// Its weights.
    pub weights: WeightsSource,
    /// Slices, in-plane size and the pixel scaling the weights expect.
    pub input: InputConfig,
    /// Pooling over slices, concatenated in this order.
    pub pooling: Vec<Pool>,
    /// The ACL region each exam was cut to first; whole slices when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionSpec>,
}

impl FeatureSpec {
    /// A short hash of the whole spec: two specs with one key make the same vectors.
    pub fn key(&self) -> String {
        let text = serde_json::to_string(self).expect("a spec serialises");
        let digest = Sha256::digest(text.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks a spec read from a file: a known backbone, a sane input size, slices and pooling.
    pub fn validate(&self) -> Result<(), String> {
        if cruciate_models::BackboneKind::from_name(&self.backbone).is_none() {
            return Err(format!("unknown backbone {:?}", self.backbone));
        }
        if !(16..=1024).contains(&self.input.size) {
            return Err(format!(
                "input size {} is out of range (16 to 1024)",
                self.input.size
            ));
        }
        if !(1..=ALL_SLICES).contains(&self.input.slices) || self.pooling.is_empty() {
            return Err("no slices or no pooling".into());
        }
        Ok(())
    }

    /// How pixels are scaled for the weights.
    pub fn pixel_scale(&self) -> PixelScale {
        self.input.pixel_scale.unwrap_or_default()
    }

    /// The spec in one line, for reports.
    pub fn describe(&self) -> String {
        let weights = match &self.weights {
            WeightsSource::File { name, .. } => name.clone(),
            WeightsSource::Random { seed } => format!("random (seed {seed})"),
        };
        let slices = match (self.input.selection, self.input.slices) {
            (Selection::Central, ALL_SLICES) => "all slices".to_string(),
            (Selection::Central, n) => format!("central {n} slices"),
            (Selection::Roi, n) => format!("{n} slices around the ROI"),
        };
        let pools: Vec<&str> = self.pooling.iter().map(|p| p.name()).collect();
        let region = self
            .region
            .as_ref()
            .map_or(String::new(), |r| format!(" of {}", r.describe()));
        format!(
            "{} ({weights}, {} pixels), {slices}{region} at {}x{}, {} pooling",
            self.backbone,
            self.pixel_scale().name(),
            self.input.size,
            self.input.size,
            pools.join("+")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_any_change_changes_the_key() {
        assert_eq!("central:8".parse(), Ok(SliceChoice::Central(8)));
        assert_eq!("roi".parse(), Ok(SliceChoice::Roi(16)));
        assert_eq!("all".parse(), Ok(SliceChoice::All));
        for bad in ["central:0", "central", "edge:3", "roi:x"] {
            assert!(bad.parse::<SliceChoice>().is_err(), "{bad}");
        }
        assert_eq!(
            Pool::parse_list("max,mean"),
            Ok(vec![Pool::Max, Pool::Mean])
        );
        assert!(Pool::parse_list("max,sum").is_err());
        let spec = FeatureSpec {
            backbone: "vgg16".into(),
            weights: WeightsSource::File {
                name: "w.safetensors".into(),
                sha256: "ab".into(),
            },
            input: InputConfig {
                pixel_scale: Some(PixelScale::Unit),
                ..SliceChoice::Central(8).input(224)
            },
            pooling: vec![Pool::Max],
            region: None,
        };
        assert_eq!(spec.key(), spec.clone().key());
        assert_eq!(spec.key().len(), 16);
        let mut other = spec.clone();
        other.pooling.push(Pool::Mean);
        assert_ne!(other.key(), spec.key());
        let mut other = spec.clone();
        other.input.size = 128;
        assert_ne!(other.key(), spec.key());
        assert_eq!(
            spec.describe(),
            "vgg16 (w.safetensors, unit pixels), central 8 slices at 224x224, max pooling"
        );
        // Whole-slice specs keep the key they had before regions existed.
        assert!(!serde_json::to_string(&spec).unwrap().contains("region"));
        let mut manifest_box = spec.clone();
        manifest_box.region = Some(RegionSpec {
            source: crate::RegionSource::Manifest,
            margin: [2, 16, 16],
        });
        let mut found = manifest_box.clone();
        found.region.as_mut().unwrap().source = crate::RegionSource::Localiser {
            name: "heatmap-small".into(),
            sha256: "cd".into(),
        };
        let keys = [spec.key(), manifest_box.key(), found.key()];
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
        assert!(
            found
                .describe()
                .contains("central 8 slices of the ACL box heatmap-small finds + 2,16,16 voxels"),
            "{}",
            found.describe()
        );
    }
}
