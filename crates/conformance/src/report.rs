//! How the suite reports a case it cannot run: capability-excluded cases are ignored (never
//! passed), and a missing fixture part fails under CI.

/// Marks a case as not applicable to this connector's declared capabilities.
pub fn ignored(case: &str, why: &str) {
    eprintln!("conformance: {case}: ignored: {why}");
}

/// A fixture part the case needs is missing: ignored locally, a failure in CI.
pub fn missing(case: &str, what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("conformance: {case}: the fixture provides no {what} (required in CI)");
    }
    eprintln!("conformance: {case}: ignored: the fixture provides no {what}");
}
