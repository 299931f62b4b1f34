//! Parsing untrusted code on a stack large enough for what the parsers build.
//!
//! rustpython's parser and sqlparser build syntax trees whose depth follows the input (a chain
//! of `1+1+...` nests one node per operator), and dropping, visiting or printing a tree recurses
//! once per level. On a thread's usual 2 MiB stack a few hundred kilobytes of such input would
//! overflow it and abort the gateway. Analysis therefore runs on a separate stack sized for the
//! largest input the gateway accepts (`limits.code_bytes`, at most `MAX_CODE_BYTES`, checked
//! when the configuration loads), and the
//! walkers refuse trees deeper than they support before doing any real work.
//!
//! `stacker` (from the Rust project, already used by sqlparser's recursion guard) switches the
//! current thread to a fresh mapping for the closure; pages are only committed when touched.

pub use airlock_gateway_domain::limits::MAX_CODE_BYTES;

/// Stack for one analysis: measured at about 200 bytes per level for the deepest trees one
/// mebibyte of input can build (one level per two bytes), with room to spare.
const STACK_BYTES: usize = 256 << 20;

/// Runs `f` on a stack of [`STACK_BYTES`].
pub fn on_large_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::grow(STACK_BYTES, f)
}
