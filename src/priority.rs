//! CPU priority for the threads that do dashboard and admin work, so that on a busy machine
//! the relay's verify and usage requests (on the main runtime, at normal priority) come first.

/// The nice value of dashboard and admin threads (Linux; 0 is normal, 19 the lowest).
///
/// Safe for that work: a nice value only matters when threads compete for a core; on an idle
/// core it runs at full speed, and under contention it still gets its (smaller) share, so it
/// is slowed, never starved. Linux gives each thread its own nice value, so this touches no
/// other thread; raising it needs no privilege (lowering it back would, which is why such
/// work runs on threads of its own rather than on pooled ones that other work reuses).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to `BACKGROUND_NICE`; `what` names the thread in
/// the warning logged where that is refused.
pub fn lower_this_thread(what: &str) {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE)
    {
        tracing::warn!(%error, thread = what, "cannot lower a thread's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = what;
}
