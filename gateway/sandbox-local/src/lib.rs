//! The local sandbox backend: one bubblewrap sandbox per session, limited by cgroups, with the
//! Airlock agent inside speaking the sandbox protocol over a Unix socket in the session directory.
//!
//! Sessions take a sandbox from the warm pool of their limits class when one is ready
//! (`pool.rs`), else start one (`start.rs`).
//!
//! Layout under `state_dir/sandboxes/<session or warm-name>/`:
//! `workspace/` (bound read-write at `/workspace`), `run/` (bound at `/run/airlock`: the agent
//! socket and the one-shot token file), `etc/` (a generated passwd/group), `cgroups` (the cgroup
//! directories, for cleanup by a later process).

mod backend;
mod bwrap;
mod cgroup;
mod pool;
mod sandbox;
mod seccomp;
mod start;
mod uids;

pub use backend::LocalBackend;
pub use bwrap::{sandbox_env, SYSTEM_MOUNTS};
pub use cgroup::{CgroupMode, CgroupVersion};
pub use pool::PoolClass;
pub use start::LocalBackendConfig;
