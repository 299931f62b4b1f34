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
//! Mapping and unmapping 256 MiB per analysis costs more than analysing a short cell, so input
//! small enough for the stack the thread has left (with a wide margin over the measured
//! depth per byte) is analysed where it is.

pub use airlock_gateway_domain::limits::MAX_CODE_BYTES;

/// Stack for one analysis: measured at about 200 bytes per level for the deepest trees one
/// mebibyte of input can build (one level per two bytes), with room to spare.
const STACK_BYTES: usize = 256 << 20;

/// Stack an input of one byte may need at most: one level per two bytes at about 200 bytes a
/// level, times 2.5.
const BYTES_PER_INPUT_BYTE: usize = 256;
/// Stack kept free beyond that for the walkers' own frames and whatever runs after.
const BASE_BYTES: usize = 256 << 10;

/// Runs `f`, which analyses `input_len` bytes, on a stack of [`STACK_BYTES`] unless the
/// current one has room enough left for the deepest tree such an input can build.
pub fn on_large_stack<T>(input_len: usize, f: impl FnOnce() -> T) -> T {
    let need = input_len
        .saturating_mul(BYTES_PER_INPUT_BYTE)
        .saturating_add(BASE_BYTES);
    if need >= STACK_BYTES {
        return stacker::grow(STACK_BYTES, f);
    }
    stacker::maybe_grow(need, STACK_BYTES, f)
}

#[cfg(test)]
mod tests {
    use airlock_gateway_domain::connectors::SqlDialect;

    /// The deepest trees of every size around the point where analysis stops growing the
    /// stack, analysed on a thread with the 2 MiB stack of an async worker: none overflows
    /// (an overflow aborts the test process).
    #[test]
    fn deep_input_near_the_threshold_fits_the_stack_it_runs_on() {
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for kib in [1usize, 2, 4, 6, 7, 8, 12, 16] {
                    let n = kib * 1024 / 2;
                    let sum = format!("{}1", "1+".repeat(n));
                    let parens = format!("{}1{}", "(".repeat(n / 2), ")".repeat(n / 2));
                    let lists = format!("{}{}", "[".repeat(n / 2), "]".repeat(n / 2));
                    for code in [sum, parens, lists] {
                        let _ = crate::python::analyze(&code);
                    }
                    let sql = format!("SELECT {}1{}", "(".repeat(n / 2), ")".repeat(n / 2));
                    let _ = crate::sql::analyze(SqlDialect::Postgres, "public", &sql);
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(worker.join().is_ok());
    }
}
