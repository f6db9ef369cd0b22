//! The CPU time the whole process has used, user and system, over all its
//! threads, as Linux counts it in `/proc/self/stat`.

use std::time::Duration;

/// Where Linux gives the process's times.
const STAT: &str = "/proc/self/stat";

/// The clock ticks per second of the times in [`STAT`] (`getconf
/// CLK_TCK`). It is 100 on Linux on every common platform; asking the
/// system would take a call to `sysconf`, which needs `unsafe` code.
const TICKS_PER_SECOND: u64 = 100;

/// The index of `utime` among the fields after the process's name: field
/// 14 of the whole line, counted from 1 (`stime`, field 15, follows it).
const UTIME: usize = 11;

/// The CPU time the process has used so far.
///
/// # Errors
///
/// A message saying why, when [`STAT`] cannot be read (on a system other
/// than Linux, for one) or is not in the form expected.
pub(crate) fn used() -> Result<Duration, String> {
    let stat = std::fs::read_to_string(STAT).map_err(|error| {
        format!("the process's CPU time cannot be read from {STAT} (it takes Linux): {error}")
    })?;
    parse(&stat)
}

/// The user and system time in a line of `/proc/<pid>/stat`.
fn parse(stat: &str) -> Result<Duration, String> {
    // The name, in parentheses, may hold spaces and parentheses of its
    // own: the fields that follow the last `)` are the ones to count.
    let (_, fields) = stat
        .rsplit_once(')')
        .ok_or_else(|| format!("{STAT} has no process name in parentheses"))?;
    let mut fields = fields.split_whitespace().skip(UTIME);
    let mut next = |name: &str| {
        fields
            .next()
            .and_then(|field| field.parse::<u64>().ok())
            .ok_or_else(|| format!("{STAT} has no {name} where expected"))
    };
    let ticks = next("utime")?.saturating_add(next("stime")?);
    let nanos_per_tick = 1_000_000_000 / TICKS_PER_SECOND;
    Ok(Duration::from_secs(ticks / TICKS_PER_SECOND)
        + Duration::from_nanos(ticks % TICKS_PER_SECOND * nanos_per_tick))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_times_follow_the_last_parenthesis() {
        // utime 250 ticks, stime 41: 2.91 s; the name has spaces and
        // parentheses of its own.
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 300 0 0 0 \
                    250 41 0 0 20 0 9 0 5000 10000000 500 18446744073709551615";
        assert_eq!(parse(stat), Ok(Duration::from_millis(2910)));
        let plain = "7 (bench) R 1 7 7 0 -1 0 0 0 0 0 3 0 0 0 20 0 1 0 1";
        assert_eq!(parse(plain), Ok(Duration::from_millis(30)));
    }

    #[test]
    fn a_line_not_in_the_form_expected_is_an_error() {
        assert!(parse("1234 no name S 1 2 3").unwrap_err().contains("name"));
        assert!(
            parse("1234 (short) S 1 1234")
                .unwrap_err()
                .contains("utime")
        );
        assert!(
            parse("1234 (x) S 1 1 1 0 -1 0 0 0 0 0 250 many")
                .unwrap_err()
                .contains("stime")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_time_is_read_and_does_not_go_back() {
        let before = used().unwrap();
        let after = used().unwrap();
        assert!(after >= before);
    }
}
