//! A clock the test moves by hand and ids that count up: a pipeline run is the same every time.

use airlock_gateway_domain::{clock::truncate_to_ms, Clock, IdGenerator};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex,
};
use time::OffsetDateTime;

pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// Starts at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_767_225_600)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        ))
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_ms(*self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// UUIDv7-shaped ids that count up: 1, 2, 3, ... after a base of their own. Every generator
/// of the process gets another base, so two gateways on one store (or one gateway and its
/// restart) never mint the same id, as UUIDv7 from two processes never do.
pub struct SequentialIds {
    base: u128,
    n: AtomicU64,
}

static GENERATORS: AtomicU64 = AtomicU64::new(0);

impl Default for SequentialIds {
    fn default() -> Self {
        let generation = GENERATORS.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            base: u128::from(generation) << 64,
            n: AtomicU64::new(0),
        }
    }
}

impl SequentialIds {
    /// The count of `id` within its generator (what two runs of one scenario share).
    pub fn count_of(id: &str) -> u64 {
        let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
        let low = hex.get(hex.len().saturating_sub(12)..).unwrap_or_default();
        u64::from_str_radix(low, 16).unwrap_or(0)
    }
}

impl IdGenerator for SequentialIds {
    fn uuid(&self) -> uuid::Uuid {
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        // Version 7 and the RFC variant bits set (in the base's position they would be).
        uuid::Uuid::from_u128(0x7000_8000_0000_0000_0000 | self.base | u128::from(n))
    }

    /// Distinct per call, like the real one; predictable, which only a test may be.
    fn secret(&self) -> String {
        format!("{:064x}", self.uuid().as_u128())
    }
}
