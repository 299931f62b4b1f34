//! Test services shared by the end-to-end tests and the benchmark.

pub mod fake_kube;
pub mod jupyter_client;
pub mod tansu;
pub mod vault;

/// A helper process (test services, upstreams, mirrors) killed when the test ends, even by a
/// panic.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
