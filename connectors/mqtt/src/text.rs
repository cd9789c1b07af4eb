//! The characters an MQTT string (a topic, a user property's name or value) may not carry:
//! NUL, which MQTT forbids, and the other control characters and the Unicode non-characters,
//! which a receiver may treat as a malformed packet (MQTT 5 §1.5.4). Brokers such as mosquitto
//! do, and close the connection, failing every message on it: such a string is refused before
//! anything is sent.

/// The first character of `text` a broker may refuse, if any.
pub fn refused_char(text: &str) -> Option<char> {
    // Plain ASCII text (nearly every topic and property) is checked without decoding.
    if text.is_ascii() {
        return text.bytes().find(|b| b.is_ascii_control()).map(char::from);
    }
    text.chars().find(|&c| is_refused(c))
}

/// Whether `c` is a control character (U+0000–U+001F, U+007F–U+009F) or a non-character
/// (U+FDD0–U+FDEF, and the last two code points of every plane, such as U+FFFF).
fn is_refused(c: char) -> bool {
    let n = u32::from(c);
    c.is_control() || (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// `Ok`, or why a broker may refuse `text` ("contains the control character U+0007").
pub fn check(text: &str) -> Result<(), String> {
    match refused_char(text) {
        None => Ok(()),
        Some(c) if c.is_control() => Err(format!(
            "contains the control character U+{:04X}, which MQTT brokers refuse",
            u32::from(c)
        )),
        Some(c) => Err(format!(
            "contains the Unicode non-character U+{:04X}, which MQTT brokers refuse",
            u32::from(c)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_non_characters_are_refused() {
        for good in ["a/b", "Zoë ✓", "", " ~", "\u{A0}", "\u{FFFD}", "\u{10FFFD}"] {
            assert_eq!(refused_char(good), None, "{good:?}");
        }
        for (bad, c) in [
            ("a\0", '\0'),
            ("tab\t", '\t'),
            ("x\u{1F}y", '\u{1F}'),
            ("del\u{7F}", '\u{7F}'),
            ("é\u{85}", '\u{85}'),
            ("é\u{9F}", '\u{9F}'),
            ("\u{FDD0}", '\u{FDD0}'),
            ("\u{FDEF}", '\u{FDEF}'),
            ("a\u{FFFE}", '\u{FFFE}'),
            ("a\u{FFFF}", '\u{FFFF}'),
            ("\u{1FFFF}", '\u{1FFFF}'),
            ("\u{10FFFF}", '\u{10FFFF}'),
        ] {
            assert_eq!(refused_char(bad), Some(c), "{bad:?}");
        }
        assert_eq!(
            check("a\u{7}").unwrap_err(),
            "contains the control character U+0007, which MQTT brokers refuse"
        );
        assert!(
            check("\u{FFFF}")
                .unwrap_err()
                .contains("non-character U+FFFF")
        );
    }
}
