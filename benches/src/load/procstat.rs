//! CPU time and RSS of a process from `/proc` (Linux), for the server under test and for the
//! tool itself. Read at the start and the end of the measurement window only.

use std::fs;

/// CPU seconds (user + sys) and resident memory of one process at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub user_s: f64,
    pub sys_s: f64,
    pub rss_bytes: u64,
}

impl ProcSample {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat`.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc_sysconf_clk_tck() };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `_SC_CLK_TCK` is 2 on Linux (glibc and musl).
unsafe fn libc_sysconf_clk_tck() -> i64 {
    // SAFETY: forwarded to the caller's contract; sysconf is always safe to call.
    unsafe { sysconf(2) }
}

/// Samples `/proc/<pid>` (`pid = None`: this process). `None` if the process is gone.
pub fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_owned(),
    };
    let stat = fs::read_to_string(format!("{dir}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields start after ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the man page, so utime (14) is index 11, stime (15) 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let tck = clock_ticks();
    let status = fs::read_to_string(format!("{dir}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Some(ProcSample {
        user_s: utime / tck,
        sys_s: stime / tck,
        rss_bytes: rss_kb * 1024,
    })
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn loadavg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_rss_and_cpu_grows() {
        let a = sample(None).expect("self");
        assert!(a.rss_bytes > 0);
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let b = sample(None).expect("self");
        assert!(b.cpu_s() > a.cpu_s());
    }
}
