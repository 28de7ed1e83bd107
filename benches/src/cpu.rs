//! CPU time, so a bench on a shared machine can tell "slower" from "the core was taken
//! away": wall time above CPU time is time spent waiting for the core.
//!
//! Read with `clock_gettime`, which counts the running slice too; `/proc/*/schedstat` and
//! `/proc/*/stat` only advance at scheduler ticks (4 ms here), too coarse for short rounds.

use std::time::Duration;

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread() -> Option<Duration> {
    clock(CpuClock::Thread)
}

/// CPU time of the whole process, all threads (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process() -> Option<Duration> {
    clock(CpuClock::Process)
}

enum CpuClock {
    Thread,
    Process,
}

#[cfg(unix)]
fn clock(which: CpuClock) -> Option<Duration> {
    let id = match which {
        CpuClock::Thread => libc::CLOCK_THREAD_CPUTIME_ID,
        CpuClock::Process => libc::CLOCK_PROCESS_CPUTIME_ID,
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // The workspace forbids unsafe code; benches/Cargo.toml lowers it to deny for FFI like this.
    #[allow(unsafe_code)]
    // SAFETY: `ts` is a valid, writable timespec owned by this frame; `id` is a clock id.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(u64::try_from(ts.tv_sec).ok()?, u32::try_from(ts.tv_nsec).ok()?))
}

#[cfg(not(unix))]
fn clock(_: CpuClock) -> Option<Duration> {
    None
}

/// Seconds of wall time and of the thread's CPU time per call of `f`, over `n` calls.
pub fn per_call(n: u32, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let (cpu, t) = (thread(), std::time::Instant::now());
    for _ in 0..n {
        f();
    }
    let wall = t.elapsed().as_secs_f64() / f64::from(n);
    let cpu = cpu.zip(thread()).map(|(a, b)| (b - a).as_secs_f64() / f64::from(n));
    (wall, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work_and_the_thread_is_part_of_the_process() {
        let (Some(t0), Some(p0)) = (thread(), process()) else {
            panic!("clock_gettime has no thread or process CPU clock here");
        };
        // Spin until the thread has used 20 ms of CPU: on a loaded machine that takes longer in
        // wall time, so the bound is generous; a clock that does not follow work never gets there.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while thread().unwrap() - t0 < Duration::from_millis(20) {
            assert!(start.elapsed() < Duration::from_secs(30), "20 ms of CPU not counted in 30 s");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let (t1, p1) = (thread().unwrap(), process().unwrap());
        // p0 is read just after t0: allow for that gap.
        assert!(p1 - p0 + Duration::from_millis(1) >= t1 - t0, "the process includes its thread");
        // The clock moves between scheduler ticks: while spinning it advances in small steps.
        let mut last = thread().unwrap();
        let mut largest = Duration::ZERO;
        for _ in 0..50 {
            let next = (0..10_000_000).find_map(|_| thread().filter(|t| *t > last)).expect("the clock moves");
            largest = largest.max(next - last);
            last = next;
        }
        assert!(largest < Duration::from_millis(1), "steps of {largest:?}: a tick-based clock");
        let (wall, cpu) = per_call(3, || std::thread::sleep(Duration::from_millis(5)));
        assert!(wall >= 0.005, "{wall}");
        assert!(cpu.unwrap() < wall, "sleeping takes no CPU: {cpu:?} vs {wall}");
    }
}
