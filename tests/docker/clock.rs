//! `CLOCK_MONOTONIC`, the clock the host and its containers share, as
//! plain nanoseconds (a `std::time::Instant` cannot be compared with a
//! number a container printed).

/// Nanoseconds on `CLOCK_MONOTONIC`.
pub type Ns = u64;

/// Now, on `CLOCK_MONOTONIC`.
pub fn now_ns() -> Ns {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
    }
    const CLOCK_MONOTONIC: i32 = 1;
    let mut now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the whole call.
    let failed = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut now) } != 0;
    assert!(!failed, "CLOCK_MONOTONIC is always available on Linux");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Milliseconds between two readings, for messages.
pub fn ms(from: Ns, to: Ns) -> f64 {
    (to as f64 - from as f64) / 1e6
}
