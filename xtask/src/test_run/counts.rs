//! Test counts read from the runners' own summary lines, so the test command can end on one
//! plain `N passed, M failed` line covering every test it ran.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::cmd;

/// Passed and failed tests seen so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl Counts {
    /// Adds what one output line reports: nextest's `Summary [..] N tests run: P passed, F failed`
    /// or libtest's `test result: ok. P passed; F failed; ...`.
    pub fn add_line(&mut self, line: &str) {
        let is_summary = line.trim_start().starts_with("Summary [") && line.contains("tests run:")
            || line.starts_with("test result:");
        if is_summary {
            self.passed += number_before(line, "passed");
            self.failed += number_before(line, "failed");
        }
    }
}

fn number_before(line: &str, word: &str) -> u64 {
    let Some(at) = line.find(&format!(" {word}")) else {
        return 0;
    };
    line[..at]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs `command`, passing its output through unchanged, and adds the counts it reports.
pub fn run_counting(command: &mut Command, counts: &Arc<Mutex<Counts>>) -> Result<bool> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{}`", cmd::display(command)))?;
    let pipes: Vec<(Box<dyn Read + Send>, bool)> = vec![
        (Box::new(child.stdout.take().expect("piped")), true),
        (Box::new(child.stderr.take().expect("piped")), false),
    ];
    let threads: Vec<_> = pipes
        .into_iter()
        .map(|(pipe, to_stdout)| {
            let counts = Arc::clone(counts);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if to_stdout {
                        let _ = writeln!(std::io::stdout(), "{line}");
                    } else {
                        let _ = writeln!(std::io::stderr(), "{line}");
                    }
                    counts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_line(&line);
                }
            })
        })
        .collect();
    let status = child.wait().context("waiting for the test runner")?;
    for t in threads {
        let _ = t.join();
    }
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_runners() {
        let mut c = Counts::default();
        c.add_line("     Summary [   4.651s] 111 tests run: 111 passed, 0 skipped");
        c.add_line("     Summary [   4.651s] 12 tests run: 9 passed, 3 failed, 0 skipped");
        c.add_line(
            "test result: FAILED. 9 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        c.add_line("test conformance_suite::x ... ok");
        assert_eq!(
            c,
            Counts {
                passed: 129,
                failed: 6
            }
        );
    }
}
