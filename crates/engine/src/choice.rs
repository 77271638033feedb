//! Which engine and precision run the backbones: chosen by the user (`--engine`,
//! `--precision`) or, by default, from what this build and this CPU offer.

use std::fmt;
use std::str::FromStr;

use crate::{EngineError, dnnl};

/// The engine that runs a backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// oneDNN when this build has it, else Flex.
    #[default]
    Auto,
    /// Burn's Flex backend (f32), the reference every other engine is tested against.
    Flex,
    /// oneDNN's convolution kernels.
    Dnnl,
}

/// Number format of the activations and weights inside an engine (accumulation is f32 in
/// every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats.
    F32,
    /// bfloat16: f32's range with 8 bits of mantissa; fast where the CPU multiplies it
    /// natively (AVX-512 BF16, AMX).
    Bf16,
}

/// What the user asked for; `precision: None` lets the CPU decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineChoice {
    /// The engine.
    pub engine: EngineKind,
    /// The precision, or `None` for the CPU's best.
    pub precision: Option<Precision>,
}

/// An engine and precision settled for this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Burn's Flex backend, f32.
    Flex,
    /// oneDNN at the given precision.
    Dnnl(Precision),
}

impl EngineChoice {
    /// Burn's Flex backend, f32: the reference.
    pub const FLEX: EngineChoice = EngineChoice {
        engine: EngineKind::Flex,
        precision: Some(Precision::F32),
    };

    /// The engine this choice means on this machine: `Auto` takes oneDNN when built in, in
    /// bf16 where the CPU has AMX and f32 elsewhere (see [`dnnl::preferred_precision`]).
    /// Asking for what the build or the CPU lacks is an error, not a silent fallback.
    pub fn resolve(self) -> Result<Resolved, EngineError> {
        let dnnl_precision = || self.precision.unwrap_or_else(dnnl::preferred_precision);
        match self.engine {
            EngineKind::Flex => match self.precision {
                Some(Precision::Bf16) => Err(EngineError::Unsupported(
                    "the flex engine runs in f32 only (use --engine dnnl for bf16)".into(),
                )),
                _ => Ok(Resolved::Flex),
            },
            EngineKind::Dnnl if !dnnl::available() => Err(EngineError::Unavailable),
            EngineKind::Dnnl => Ok(Resolved::Dnnl(dnnl_precision())),
            EngineKind::Auto if dnnl::available() => Ok(Resolved::Dnnl(dnnl_precision())),
            EngineKind::Auto => match self.precision {
                Some(Precision::Bf16) => Err(EngineError::Unavailable),
                _ => Ok(Resolved::Flex),
            },
        }
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolved::Flex => f.write_str("flex f32"),
            Resolved::Dnnl(p) => write!(f, "dnnl {p}"),
        }
    }
}

impl fmt::Display for EngineKind {
    /// The name `--engine` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Auto => "auto",
            EngineKind::Flex => "flex",
            EngineKind::Dnnl => "dnnl",
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(EngineKind::Auto),
            "flex" => Ok(EngineKind::Flex),
            "dnnl" | "onednn" => Ok(EngineKind::Dnnl),
            other => Err(format!("unknown engine {other:?} (auto, flex or dnnl)")),
        }
    }
}

/// `auto` (`None`), `f32` or `bf16`.
pub fn parse_precision(text: &str) -> Result<Option<Precision>, String> {
    match text {
        "auto" => Ok(None),
        "f32" => Ok(Some(Precision::F32)),
        "bf16" => Ok(Some(Precision::Bf16)),
        other => Err(format!("unknown precision {other:?} (auto, f32 or bf16)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_refuses_bf16_and_names_parse() {
        assert_eq!("dnnl".parse(), Ok(EngineKind::Dnnl));
        for kind in [EngineKind::Auto, EngineKind::Flex, EngineKind::Dnnl] {
            assert_eq!(kind.to_string().parse(), Ok(kind));
        }
        assert!(
            "cuda"
                .parse::<EngineKind>()
                .unwrap_err()
                .contains("auto, flex or dnnl")
        );
        assert_eq!(parse_precision("bf16"), Ok(Some(Precision::Bf16)));
        assert!(parse_precision("fp8").is_err());
        let flex_bf16 = EngineChoice {
            engine: EngineKind::Flex,
            precision: Some(Precision::Bf16),
        };
        assert!(
            flex_bf16
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("f32 only")
        );
        assert_eq!(EngineChoice::FLEX.resolve().unwrap(), Resolved::Flex);
    }

    #[test]
    fn auto_takes_dnnl_exactly_when_built_in() {
        let auto = EngineChoice::default().resolve().unwrap();
        assert_eq!(matches!(auto, Resolved::Dnnl(_)), dnnl::available());
        let forced = EngineChoice {
            engine: EngineKind::Dnnl,
            precision: Some(Precision::F32),
        };
        match forced.resolve() {
            Ok(r) => assert_eq!(r, Resolved::Dnnl(Precision::F32)),
            Err(e) => {
                assert!(!dnnl::available());
                assert!(e.to_string().contains("libdnnl-dev"));
            }
        }
    }
}
