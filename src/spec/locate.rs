//! Where a mistake is: byte spans turned into `file:line:column`, and the one-line errors with their
//! `hint:`, including the TOML parser's and serde's own errors reworded as `key: problem`.

use super::keys;
use crate::error::UserError;
use std::ops::Range;
use std::path::Path;

/// Turns byte spans into `file:line:column` and builds the error lines.
pub(super) struct Locator<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        (line, column)
    }

    pub(super) fn error(&self, span: Range<usize>, key: &str, problem: &str, hint: impl Into<String>) -> UserError {
        let (line, column) = self.position(span.start);
        UserError::new(format!("{}:{line}:{column}: {key}: {problem}", self.file.display())).hint(hint)
    }

    pub(super) fn syntax_error(&self, error: &toml::de::Error) -> UserError {
        let span = error.span().unwrap_or(0..0);
        self.error(span, "(syntax)", error.message().trim(), "fix the TOML syntax at that position")
    }

    pub(super) fn serde_error(&self, error: serde_path_to_error::Error<toml::de::Error>) -> UserError {
        let path: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } | serde_path_to_error::Segment::Enum { variant: key } => {
                    // Spanned<T> is deserialized through private marker fields; they are not keys.
                    (!key.starts_with("$__")).then(|| key.clone())
                }
                serde_path_to_error::Segment::Seq { index } => Some(format!("[{index}]")),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = error.inner();
        let message = inner.message().trim().to_string();
        let span = inner.span().unwrap_or(0..0);
        let mut key = path.join(".").replace(".[", "[");

        if message.starts_with("unknown field `") {
            // The path already ends with the unknown key.
            let table = key.rsplit_once('.').map(|(table, _)| format!("[{table}]"));
            let allowed =
                message.split_once("expected ").map(|(_, rest)| rest.replace("one of ", "")).unwrap_or_default();
            let names: Vec<&str> = allowed.split(", ").map(|name| name.trim().trim_matches('`')).collect();
            let typed = key.rsplit('.').next().unwrap_or(&key);
            let mut hint = format!("keys allowed in {}: {allowed}", table.as_deref().unwrap_or("the top level"));
            if let Some(meant) = keys::closest(typed, &names) {
                let full = match key.rsplit_once('.') {
                    Some((table, _)) => format!("{table}.{meant}"),
                    None => meant.to_string(),
                };
                let meaning = keys::documentation(&full).map(|doc| format!(" ({doc})")).unwrap_or_default();
                hint = format!("did you mean {meant}?{meaning}; {hint}");
            }
            return self.error(span, &key, "unknown key", hint);
        }
        if let Some(missing) = backticked(&message, "missing field `") {
            let full = if key.is_empty() { missing.clone() } else { format!("{key}.{missing}") };
            let hint = match keys::documentation(&full) {
                Some(doc) => format!("add {doc}"),
                None => format!("add {missing} = …"),
            };
            return self.error(span, &full, "required key is missing", hint);
        }
        if key.is_empty() {
            key = "(top level)".into();
        }
        let hint = match keys::documentation(&key) {
            Some(doc) => doc.to_string(),
            None if message.starts_with("unknown variant") => "use one of the listed values".to_string(),
            None => "check the key's value against its type".to_string(),
        };
        self.error(span, &key, &message, hint)
    }
}

/// The text between `prefix` and the next backtick.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split('`').next()?.to_string())
}
