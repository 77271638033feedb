//! A global allocator that refuses any single allocation above a cap.
//!
//! Why: DICOM parsers reserve (and dicom-rs fills) a buffer of an element's *declared* length
//! before reading it, so a few hostile bytes can ask for gigabytes. [`crate::dicom`] walks the
//! element headers first and refuses such lengths, but a walk can only mirror the parser's
//! reading of malformed data so far (fuzzing keeps finding divergences). Installed in a binary,
//! this allocator is the backstop: an allocation over [`CappedAllocator::CAP`] fails, which
//! dicom-rs (`try_reserve`) reports as an ordinary read error. Legitimate exams are far below the
//! cap (a 40 x 512 x 512 f32 volume is 42 MB; [`crate::limits::MAX_VOXELS`] is 2 GiB of f32).
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: cruciate_volume::CappedAllocator = cruciate_volume::CappedAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator with a cap on single allocations.
pub struct CappedAllocator;

impl CappedAllocator {
    /// Largest single allocation, in bytes (2 GiB).
    pub const CAP: usize = 2 << 30;
}

// SAFETY: every call is forwarded to `System` unchanged, except requests above the cap, which
// return null as an allocator may when it cannot satisfy a request.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > Self::CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > Self::CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > Self::CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
