//! Subnormal floats flushed to zero on the CPU.
//!
//! Why: as a model fits, some gradients and Adam's second moments (squares of gradients) fall
//! below f32's normal range, and x86 cores handle every such operand in microcode, tens of
//! times slower. Measured here (2026-11-28, "Intel(R) Xeon(R) Processor", 2 cores): an MRNet
//! training epoch on phantoms slowed from 6 s to 27-40 s once its loss neared zero, the time in
//! Burn's element-wise scalar ops (the optimiser's updates); setting these bits in the running process brought
//! it back to 7.5 s, and runs that set them from the start took 5.3 s per epoch throughout.
//! TensorFlow flushes them the same way; values this small (below 1.2e-38) carry nothing a
//! model uses.

/// Makes the calling thread treat subnormal f32/f64 inputs and results as zero (the SSE
/// control register's flush-to-zero and denormals-are-zero bits). Threads it starts afterwards
/// inherit the setting, so a program calls it first thing. True where it took effect (x86-64);
/// other CPUs keep their default.
pub fn flush_denormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        /// Flush-to-zero (bit 15) and denormals-are-zero (bit 6).
        const FTZ_DAZ: u32 = 0x8040;
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr`/`ldmxcsr` (SSE, part of the x86-64 baseline) read and write this
        // thread's SSE control register through a valid `u32`; the two bits set change only
        // how subnormal values round.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;

    #[test]
    fn subnormals_become_zero_here_and_in_threads_started_later() {
        let tiny = black_box(f32::MIN_POSITIVE / 8.0);
        assert!(tiny > 0.0 && !tiny.is_normal());
        let before = std::thread::spawn(move || black_box(tiny) * black_box(1.0))
            .join()
            .unwrap();
        assert_eq!(before, tiny, "a fresh thread keeps subnormals");
        if !flush_denormals() {
            return;
        }
        assert_eq!(black_box(tiny) * black_box(1.0), 0.0);
        assert_eq!(black_box(f32::MIN_POSITIVE) * black_box(0.5), 0.0);
        let child = std::thread::spawn(move || black_box(tiny) + black_box(0.0))
            .join()
            .unwrap();
        assert_eq!(child, 0.0, "the setting is inherited");
        assert_eq!(black_box(1.5f32) * black_box(2.0), 3.0);
    }
}
