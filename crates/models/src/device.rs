//! What computes, as a value the program chooses (from flags) and passes down: the device
//! (Burn's Flex CPU backend, or with the `cuda` feature a CUDA GPU) and, on the CPU, the
//! engine that runs backbones' forward passes ([`EngineChoice`]).

use burn::prelude::*;
use cruciate_engine::EngineChoice;

/// A compute device by name: `cpu`, or `cuda` / `cuda:N` in builds with the `cuda` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The CPU, through Burn's Flex backend.
    #[default]
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

/// Where and with what models compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compute {
    /// The device.
    pub target: Target,
    /// The engine for backbones' forward passes (CPU only; a GPU runs everything in Burn).
    pub engine: EngineChoice,
}

impl Compute {
    /// The CPU, with the fastest engine this build and CPU offer.
    pub const CPU: Compute = Compute {
        target: Target::Cpu,
        engine: EngineChoice {
            engine: cruciate_engine::EngineKind::Auto,
            precision: None,
        },
    };

    /// The CPU with Burn's Flex alone: the reference.
    pub const FLEX: Compute = Compute {
        target: Target::Cpu,
        engine: EngineChoice::FLEX,
    };

    /// The Burn device.
    pub fn device(self) -> Device {
        match self.target {
            #[cfg(feature = "cuda")]
            Target::Cuda(n) => Device::cuda(n),
            _ => Device::flex(),
        }
    }

    /// The engine choice that applies: the user's on the CPU, Burn alone on a GPU.
    pub fn engine_choice(self) -> EngineChoice {
        match self.target {
            Target::Cpu => self.engine,
            Target::Cuda(_) => EngineChoice::FLEX,
        }
    }
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.target, self.engine_choice().resolve()) {
            (Target::Cuda(n), _) => write!(f, "cuda:{n}"),
            (Target::Cpu, Ok(engine)) => write!(f, "cpu ({engine})"),
            (Target::Cpu, Err(_)) => f.write_str("cpu (engine unavailable)"),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let gpu = match text {
            "cpu" => return Ok(Target::Cpu),
            "cuda" => 0,
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unknown device {other:?} (cpu, cuda or cuda:N)"))?,
        };
        if cfg!(feature = "cuda") {
            Ok(Target::Cuda(gpu))
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
        assert_eq!("cpu".parse(), Ok(Target::Cpu));
        assert!(
            "gpu"
                .parse::<Target>()
                .unwrap_err()
                .contains("cpu, cuda or cuda:N")
        );
        let cuda = "cuda:1".parse::<Target>();
        if cfg!(feature = "cuda") {
            assert_eq!(cuda, Ok(Target::Cuda(1)));
        } else {
            assert!(cuda.unwrap_err().contains("--features cuda"));
        }
    }

    #[test]
    fn a_gpu_runs_everything_in_burn() {
        let gpu = Compute {
            target: Target::Cuda(0),
            engine: EngineChoice::default(),
        };
        assert_eq!(gpu.engine_choice(), EngineChoice::FLEX);
        assert_eq!(Compute::CPU.engine_choice(), EngineChoice::default());
        assert_eq!(Compute::FLEX.to_string(), "cpu (flex f32)");
    }
}
