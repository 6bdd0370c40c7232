//! The wasm module's allocator: power-of-two size classes, each a free list, carved from pages
//! the module grows. About a sixth of the size of the standard library's dlmalloc, which matters
//! for the single-file build. A login allocates the same shapes every time, so freed blocks are
//! reused by the next login of the same module and memory stays flat; it is never returned.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

const PAGE: usize = 65_536;
/// Smallest block: 16 bytes (class 4), enough for a free-list link and common alignments.
const MIN_CLASS: u32 = 4;
/// Blocks up to 2^31 bytes, the whole 32-bit address space's upper half.
const CLASSES: usize = 32;

struct Heap {
    /// Head of each class's free list (0: empty); a free block's first word links the next.
    free: [usize; CLASSES],
    /// The unused part of the last run of grown pages.
    next: usize,
    end: usize,
}

pub struct SizeClasses(UnsafeCell<Heap>);

// wasm32 without the `atomics` feature has one thread: nothing can race on the heap.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    pub const fn new() -> Self {
        SizeClasses(UnsafeCell::new(Heap { free: [0; CLASSES], next: 0, end: 0 }))
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a layout: the log2 of the smallest power of two holding its size and alignment.
fn class(layout: Layout) -> usize {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    (usize::BITS - (size - 1).leading_zeros()) as usize
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let heap = &mut *self.0.get();
        let c = class(layout);
        // Fresh pages are page-aligned, so no block can promise more than that.
        if c >= CLASSES || layout.align() > PAGE {
            return null_mut();
        }
        let head = heap.free[c];
        if head != 0 {
            heap.free[c] = *(head as *const usize);
            return head as *mut u8;
        }
        let size = 1usize << c;
        // Aligned to its own size up to a page: enough for any layout of this class.
        let align = size.min(PAGE);
        let aligned = heap.next.checked_add(align - 1).map(|n| n & !(align - 1));
        let mut start = aligned.unwrap_or(0);
        if aligned.and_then(|a| a.checked_add(size)).map_or(true, |e| e > heap.end) {
            // A fresh run of pages for this block; the rest of the old run is left unused.
            let pages = size.div_ceil(PAGE);
            let prev = core::arch::wasm32::memory_grow(0, pages);
            if prev == usize::MAX {
                return null_mut();
            }
            start = prev * PAGE;
            heap.end = start + pages * PAGE;
        }
        heap.next = start + size;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let heap = &mut *self.0.get();
        let c = class(layout);
        *(ptr as *mut usize) = heap.free[c];
        heap.free[c] = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else { return null_mut() };
        if class(new_layout) == class(layout) {
            return ptr;
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}
