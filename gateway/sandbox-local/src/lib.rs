//! The local sandbox backend: one bubblewrap sandbox per session, limited by cgroups, with the
//! Airlock agent inside speaking the sandbox protocol over a Unix socket in the session directory.
//!
//! Layout under `state_dir/sandboxes/<session>/`:
//! `workspace/` (bound read-write at `/workspace`), `run/` (bound at `/run/airlock`: the agent
//! socket and the one-shot token file), `etc/` (a generated passwd/group), `cgroups` (the cgroup
//! directories, for cleanup by a later process).

mod bwrap;
mod cgroup;
mod sandbox;
mod seccomp;
mod uids;

pub use bwrap::{sandbox_env, SYSTEM_MOUNTS};
pub use cgroup::{CgroupMode, CgroupVersion};
pub use sandbox::{LocalBackend, LocalBackendConfig};
