//! The machine a benchmark ran on: without it a speed figure means nothing.

use cruciate_engine::dnnl;
use cruciate_models::Compute;
use serde::Serialize;

/// The processor's name as the kernel reports it ("unknown CPU" elsewhere).
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// What the figures of one sitting were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// The processor's name.
    pub cpu: String,
    /// The compute threads (rayon's pool).
    pub threads: usize,
    /// oneDNN's version, or "not built in".
    pub onednn: String,
    /// The instruction set oneDNN dispatches to ("-" without oneDNN).
    pub isa: String,
    /// The device the models run on (`cpu`, `vulkan:0`, ...).
    pub device: String,
}

impl Machine {
    /// This machine, computing as `compute` says.
    pub fn here(compute: Compute) -> Self {
        Self {
            cpu: cpu_name(),
            threads: rayon::current_num_threads(),
            onednn: dnnl::version().unwrap_or_else(|| "not built in".into()),
            isa: dnnl::cpu_isa().unwrap_or("-").to_string(),
            device: compute.target.to_string(),
        }
    }
}
