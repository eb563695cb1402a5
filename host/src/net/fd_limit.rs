//! The process's limit on open files, which bounds how many miner connections it can hold.

/// Raises the soft limit on open files to the hard limit and returns the soft limit in force
/// afterwards (`None` if it cannot be read).
///
/// A Debian login and a systemd service both start with a soft limit of 1,024 under a hard
/// limit of 524,288; a daemon that keeps a connection to each of thousands of miners needs more
/// than the soft one. Go's runtime does the same at start.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The soft limit on open files now (`None` if it cannot be read).
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct passed.
        (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many idle miner connections a process with `limit` open files may keep: half of them,
/// so that connections in flight, the database, plugin files and API clients keep the rest.
pub fn idle_connection_budget(limit: Option<u64>) -> usize {
    limit.map_or(512, |l| usize::try_from(l / 2).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers_the_limit_and_half_goes_to_idle_connections() {
        let before = open_files_limit().expect("readable on unix");
        let after = raise_open_files_limit().expect("readable on unix");
        assert!(after >= before);
        assert_eq!(open_files_limit(), Some(after));
        assert_eq!(idle_connection_budget(Some(1024)), 512);
        assert_eq!(idle_connection_budget(None), 512);
    }
}
