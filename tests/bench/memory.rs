//! keyward's memory as Linux reports it in `/proc/<pid>/status`.

use crate::{BenchResult, Context};

pub struct Memory {
    pub peak_kib: u64,
    pub current_kib: u64,
}

pub fn read_memory(pid: u32) -> BenchResult<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).context(format!("reading {path}"))?;
    let field = |name: &str| -> BenchResult<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("{path} has no readable {name}"))
    };
    Ok(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
    })
}

/// The current RSS of each process, in the order given.
pub fn current_rss_kib(pids: &[u32]) -> BenchResult<Vec<u64>> {
    pids.iter()
        .map(|pid| read_memory(*pid).map(|memory| memory.current_kib))
        .collect()
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
