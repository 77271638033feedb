//! Which device computes, as a value the program chooses (from a flag) and passes down: Burn's
//! Flex CPU backend, or with the `cuda` feature a CUDA GPU.

use burn::prelude::*;

/// A compute device by name: `cpu`, or `cuda` / `cuda:N` in builds with the `cuda` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compute {
    /// Burn's Flex backend on the CPU.
    #[default]
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

impl Compute {
    /// The Burn device.
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "cuda")]
            Compute::Cuda(n) => Device::cuda(n),
            _ => Device::flex(),
        }
    }
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compute::Cpu => f.write_str("cpu (flex)"),
            Compute::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for Compute {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let gpu = match text {
            "cpu" => return Ok(Compute::Cpu),
            "cuda" => 0,
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unknown device {other:?} (cpu, cuda or cuda:N)"))?,
        };
        if cfg!(feature = "cuda") {
            Ok(Compute::Cuda(gpu))
        } else {
            Err(format!(
                "device {text:?}: this build has no CUDA support (build with --features cuda)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_cuda_needs_the_feature() {
        assert_eq!("cpu".parse(), Ok(Compute::Cpu));
        assert!(
            "gpu"
                .parse::<Compute>()
                .unwrap_err()
                .contains("cpu, cuda or cuda:N")
        );
        let cuda = "cuda:1".parse::<Compute>();
        if cfg!(feature = "cuda") {
            assert_eq!(cuda, Ok(Compute::Cuda(1)));
        } else {
            assert!(cuda.unwrap_err().contains("--features cuda"));
        }
    }
}
