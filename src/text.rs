//! Text from the systems (role and parameter names, values, service messages) on its way to a terminal, a
//! log or a document. No I/O.

use std::borrow::Cow;

/// A character that changes how the text around it is shown rather than showing itself: control
/// characters (escape sequences, carriage returns, line breaks), bidirectional overrides and isolates
/// (which can reorder what a reader sees), and the Unicode line and paragraph separators.
pub fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// A count with its noun in the right number: `count(1, "reader", "readers")` → `1 reader`, and `no`
/// for none (`no readers`), the way a sentence says it.
pub fn count(n: impl Into<i128>, one: &str, many: &str) -> String {
    match n.into() {
        0 => format!("no {many}"),
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// Text from outside migprep (names, values, service messages) made inert for a terminal or a document:
/// every control character is shown as an escape such as `\u{1b}`, so no escape sequence reaches the
/// terminal and no carriage return or forged line hides what a line says. A line break is kept only
/// where the text may span lines (`multiline`).
pub fn inert(text: &str, multiline: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| steers(c) && !(multiline && c == '\n');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}
