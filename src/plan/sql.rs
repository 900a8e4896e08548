//! SQL text the operations run, built in one place. Role and grant statements are utility commands,
//! which PostgreSQL does not let bind parameters into, so every name is quoted as an identifier here.

/// A quoted SQL identifier, so that case and any character survive: `Mig "rator"` → `"Mig ""rator"""`.
///
/// A name with a control character (a line break, an escape) is written as a Unicode-escape identifier
/// instead, `U&"x\000aDROP"`: the same name to PostgreSQL, but its text holds no control character, so it
/// cannot break out of a comment or a line of a SQL file, nor hide anything on a terminal.
pub fn quote_ident(name: &str) -> String {
    use crate::text::steers;
    if !name.chars().any(steers) {
        return format!("\"{}\"", name.replace('"', "\"\""));
    }
    let mut quoted = String::from("U&\"");
    for c in name.chars() {
        match c {
            '"' => quoted.push_str("\"\""),
            '\\' => quoted.push_str("\\\\"),
            c if steers(c) => quoted.push_str(&format!("\\{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_quotes_doubled() {
        assert_eq!(quote_ident("migrator"), "\"migrator\"");
        assert_eq!(quote_ident("Mig \"rator\""), "\"Mig \"\"rator\"\"\"");
        assert_eq!(quote_ident("back\\slash"), "\"back\\slash\"");
    }

    #[test]
    fn control_characters_become_unicode_escapes() {
        let hostile = "x\nDROP ROLE sentinel; --";
        let quoted = quote_ident(hostile);
        assert_eq!(quoted, "U&\"x\\000aDROP ROLE sentinel; --\"");
        assert!(!quoted.chars().any(char::is_control));
        assert_eq!(quote_ident("a\u{1b}[2J\\\"b"), "U&\"a\\001b[2J\\\\\"\"b\"");
    }
}
