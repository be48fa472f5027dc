//! The transport's random generator: nonces and backoff jitter.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};

/// A generator for nonces and jitter, seeded from the OS's generator; if it
/// cannot answer (early boot, a locked-down sandbox), hashed entropy still
/// gives unique, unguessable nonces.
pub(crate) fn fresh_rng() -> StdRng {
    StdRng::try_from_rng(&mut SysRng).unwrap_or_else(|_| StdRng::from_seed(entropy_seed()))
}

/// A fallback seed for the transport's generator, for when the OS generator
/// fails; it differs across processes and calls.
///
/// It draws on the entropy std has: `RandomState` keys its hasher from the OS generator once per
/// thread (and steps the key per call); hashing a counter and the time
/// through fresh keyed hashers yields unpredictable, non-repeating seeds.
/// Nonces need to be unique and unguessable, not secret keys.
fn entropy_seed() -> [u8; 32] {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(call);
        hasher.write_usize(i);
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    seed
}
