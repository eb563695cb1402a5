//! The process's limit on open files, which bounds how many miner connections it can hold.

/// The soft and hard limits on open files (`None` if they cannot be read).
#[cfg(unix)]
fn limits() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

/// Raises the soft limit on open files to the hard limit and returns the soft limit in force
/// afterwards (`None` if it cannot be read).
///
/// A Debian login and a systemd service both start with a soft limit of 1,024 under a hard
/// limit of 524,288; a daemon that keeps a connection to each of thousands of miners needs more
/// than the soft one. Go's runtime does the same at start.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let lim = limits()?;
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct passed.
        let ok = lim.rlim_cur < lim.rlim_max
            && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0;
        Some(if ok { raised.rlim_cur } else { lim.rlim_cur })
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
        limits().map(|l| l.rlim_cur)
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
    fn the_soft_limit_is_raised_to_the_hard_one_and_half_goes_to_idle_connections() {
        let lim = limits().expect("readable on unix");
        // Start below the hard limit, as a Debian login does, so that raising has work to do.
        // Half the hard limit is still plenty for the other tests in this process.
        let lowered = libc::rlimit {
            rlim_cur: lim.rlim_max / 2,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct passed; lowering the soft limit is allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        assert_eq!(open_files_limit(), Some(lim.rlim_max / 2));
        assert_eq!(raise_open_files_limit(), Some(lim.rlim_max));
        assert_eq!(open_files_limit(), Some(lim.rlim_max));
        assert_eq!(
            raise_open_files_limit(),
            Some(lim.rlim_max),
            "already raised"
        );
        assert_eq!(idle_connection_budget(Some(1024)), 512);
        assert_eq!(idle_connection_budget(None), 512);
    }
}
