//! What a case does when the fixture lacks a part it needs: fail. Cases that do not apply to a
//! connector are never run (the harness lists them as ignored, chosen by capability); a case
//! that runs has everything it needs, or the fixture is wrong.

/// Fails the case: the fixture provides no `what`.
pub fn missing(what: &str) -> ! {
    panic!(
        "the fixture provides no {what}, which this case needs (the connector's capabilities select it)"
    )
}
