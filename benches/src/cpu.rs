//! CPU time as Linux reports it, so a bench on a shared machine can tell "slower" from "the
//! core was taken away": wall time above CPU time is time spent waiting for the core.

use std::time::Duration;

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, nanoseconds); `None` where
/// the file does not exist.
pub fn thread() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// CPU time of the whole process, user and system (`/proc/self/stat`, in USER_HZ = 100 ticks
/// per second).
pub fn process() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
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
            panic!("/proc/thread-self/schedstat or /proc/self/stat is not readable");
        };
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let (t1, p1) = (thread().unwrap(), process().unwrap());
        assert!(t1 - t0 >= Duration::from_millis(20), "{:?}", t1 - t0);
        assert!(p1 >= p0 && p1 - p0 >= Duration::from_millis(10), "{:?}", p1 - p0);
        let (wall, cpu) = per_call(3, || std::thread::sleep(Duration::from_millis(5)));
        assert!(wall >= 0.005, "{wall}");
        assert!(cpu.unwrap() < wall, "sleeping takes no CPU: {cpu:?} vs {wall}");
    }
}
