//! The error a user sees: one line saying what went wrong and naming the thing (file, key, resource),
//! and, when they can act on it, a `hint:` line saying what to do.
//!
//! Layers keep their own `thiserror` enums; anything that reaches the top is shown through
//! [`UserError`] (or, for an unexpected failure, anyhow's chain on one line).

use crate::text::inert;
use std::fmt;

/// An error with a hint for the user. `Display` prints the message; the hint is separate so that the
/// caller decides how to lay it out (`error: …` / `hint: …` on stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// An error and its causes on one line, most general first (`a: b: c`); a cause whose text an earlier
/// part already holds is left out, as SDK errors often repeat their source in their own message.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Formats an error for stderr: `error: <message>` and, if there is one, `hint: <hint>`.
pub fn report(error: &anyhow::Error) -> String {
    // Messages quote the systems (ARM and SQL errors, names): nothing in them may steer the terminal.
    if let Some(user) = error.downcast_ref::<UserError>() {
        let mut out = format!("error: {}", inert(&user.message, true));
        if let Some(hint) = &user.hint {
            out.push_str(&format!("\nhint: {}", inert(hint, true)));
        }
        return out;
    }
    // An unexpected error: show the whole chain on one line, most general first.
    let chain: Vec<String> = error.chain().map(|cause| cause.to_string()).collect();
    format!("error: {}", inert(&chain.join(": "), false))
}
