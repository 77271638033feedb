//! What computes, as a value the program chooses (from flags) and passes down: the device
//! (Burn's Flex CPU backend; with the `vulkan` feature a GPU through Burn's wgpu backend on
//! Vulkan, with the `cuda` feature one through Burn's CUDA backend) and, on the CPU, the engine
//! that runs backbones' forward passes ([`EngineChoice`]).

use burn::prelude::*;
use cruciate_engine::EngineChoice;

/// A compute device by name: `cpu`; `vulkan` (the adapter the driver ranks first) or `vulkan:N`
/// (discrete GPU N) in builds with the `vulkan` feature; `cuda` / `cuda:N` in builds with the
/// `cuda` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The CPU, through Burn's Flex backend.
    #[default]
    Cpu,
    /// A GPU through Burn's wgpu backend on Vulkan: discrete GPU N, or with `None` the adapter
    /// wgpu prefers (a high-power GPU first; Mesa's lavapipe where no GPU is).
    Vulkan(Option<usize>),
    /// CUDA GPU number N.
    Cuda(usize),
}

impl Target {
    /// Whether this is a GPU (everything then runs in Burn, in f32).
    pub fn is_gpu(self) -> bool {
        self != Target::Cpu
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Cpu => f.write_str("cpu"),
            Target::Vulkan(None) => f.write_str("vulkan"),
            Target::Vulkan(Some(n)) => write!(f, "vulkan:{n}"),
            Target::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
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
            #[cfg(feature = "vulkan")]
            Target::Vulkan(n) => {
                Device::vulkan(n.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu))
            }
            #[cfg(feature = "cuda")]
            Target::Cuda(n) => Device::cuda(n),
            _ => Device::flex(),
        }
    }

    /// The engine choice that applies: the user's on the CPU, Burn alone on a GPU.
    pub fn engine_choice(self) -> EngineChoice {
        if self.target.is_gpu() {
            EngineChoice::FLEX
        } else {
            self.engine
        }
    }

    /// The global flags of `cruciate` that choose this compute (what the service hands to the
    /// analyses it starts).
    pub fn flags(self) -> Vec<String> {
        let precision = self
            .engine
            .precision
            .map_or("auto".into(), |p| p.to_string());
        [
            "--device".into(),
            self.target.to_string(),
            "--engine".into(),
            self.engine.engine.to_string(),
            "--precision".into(),
            precision,
        ]
        .into()
    }

    /// Checks that the device answers (a GPU's driver loads, the adapter exists) by computing
    /// one small sum on it: a one-line error instead of a backend's panic on first use.
    pub fn check(self) -> Result<(), String> {
        if !self.target.is_gpu() {
            return Ok(());
        }
        let device = self.device();
        // A backend panics on its own device thread, and the caller sees a closed channel:
        // keep the first panic's message, from whichever thread, as the reason.
        let first = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let kept = first.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut first) = kept.lock() {
                first.get_or_insert_with(|| panic_text(info.payload()));
            }
        }));
        let answer = std::panic::catch_unwind(move || {
            Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>()
        });
        std::panic::set_hook(previous);
        match answer {
            Ok(4.0) => Ok(()),
            Ok(sum) => Err(format!("{}: a test sum gave {sum}, not 4", self.target)),
            Err(panic) => {
                let why = first
                    .lock()
                    .ok()
                    .and_then(|mut f| f.take())
                    .unwrap_or_else(|| panic_text(&*panic));
                let why: String = why.replace('\n', " ").chars().take(400).collect();
                Err(format!("{} does not answer: {why}", self.target))
            }
        }
    }
}

/// A panic's message, when it carries one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no reason given".into())
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.target, self.engine_choice().resolve()) {
            (Target::Cpu, Ok(engine)) => write!(f, "cpu ({engine})"),
            (Target::Cpu, Err(_)) => f.write_str("cpu (engine unavailable)"),
            (gpu, _) => write!(f, "{gpu} (burn f32)"),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "cpu" {
            return Ok(Target::Cpu);
        }
        let (api, number) = match text.split_once(':') {
            Some((api, n)) => (api, n.parse().ok().map(Some)),
            None => (text, Some(None)),
        };
        let (target, built) = match (api, number) {
            ("vulkan", Some(n)) => (Target::Vulkan(n), cfg!(feature = "vulkan")),
            ("cuda", Some(n)) => (Target::Cuda(n.unwrap_or(0)), cfg!(feature = "cuda")),
            _ => {
                return Err(format!(
                    "unknown device {text:?} (cpu, vulkan, vulkan:N, cuda or cuda:N)"
                ));
            }
        };
        if built {
            Ok(target)
        } else {
            Err(format!(
                "device {text:?}: this build has no {api} support (build with --features {api})"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_gpus_need_their_feature() {
        assert_eq!("cpu".parse(), Ok(Target::Cpu));
        for bad in ["gpu", "cuda:x", "vulkan:", ""] {
            assert!(
                bad.parse::<Target>()
                    .unwrap_err()
                    .contains("cpu, vulkan, vulkan:N, cuda or cuda:N"),
                "{bad:?}"
            );
        }
        let cuda = "cuda:1".parse::<Target>();
        if cfg!(feature = "cuda") {
            assert_eq!(cuda, Ok(Target::Cuda(1)));
        } else {
            assert!(cuda.unwrap_err().contains("--features cuda"));
        }
        let vulkan = "vulkan".parse::<Target>();
        if cfg!(feature = "vulkan") {
            assert_eq!(vulkan, Ok(Target::Vulkan(None)));
            assert_eq!("vulkan:2".parse(), Ok(Target::Vulkan(Some(2))));
            assert_eq!(Target::Vulkan(Some(0)).to_string(), "vulkan:0");
        } else {
            assert!(vulkan.unwrap_err().contains("--features vulkan"));
        }
    }

    #[test]
    fn a_gpu_runs_everything_in_burn() {
        let gpu = Compute {
            target: Target::Cuda(0),
            engine: EngineChoice::default(),
        };
        assert_eq!(gpu.engine_choice(), EngineChoice::FLEX);
        assert_eq!(gpu.to_string(), "cuda:0 (burn f32)");
        assert_eq!(Compute::CPU.engine_choice(), EngineChoice::default());
        assert_eq!(Compute::FLEX.to_string(), "cpu (flex f32)");
        assert_eq!(Compute::FLEX.check(), Ok(()));
        assert_eq!(
            Compute::FLEX.flags(),
            ["--device", "cpu", "--engine", "flex", "--precision", "f32"]
        );
        assert_eq!(Compute::CPU.flags()[3..], ["auto", "--precision", "auto"]);
    }
}
