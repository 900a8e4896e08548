//! SQL text the operations run, built in one place. Role and grant statements are utility commands,
//! which PostgreSQL does not let bind parameters into, so every name is quoted as an identifier and every
//! value as a string literal here.

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

/// A quoted SQL string literal that means the same text whatever `standard_conforming_strings` says:
/// `it's` → `'it''s'`.
///
/// Text with a backslash or a control character is written as an escape string instead, `E'a\\b'`,
/// `E'x\u000aDROP'`, as PostgreSQL's own `quote_literal` does for backslashes: its text holds no control
/// character, so it cannot break out of a comment or a line of a SQL file, nor hide anything on a terminal.
pub fn quote_literal(value: &str) -> String {
    use crate::text::steers;
    if !value.chars().any(|c| c == '\\' || steers(c)) {
        return format!("'{}'", value.replace('\'', "''"));
    }
    let mut quoted = String::from("E'");
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            c if steers(c) && u32::from(c) > 0xffff => quoted.push_str(&format!("\\U{:08x}", u32::from(c))),
            c if steers(c) => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// The value of a role setting (`ALTER ROLE … SET name TO value`) as `pg_db_role_setting` stores it, as the
/// literals that set it again. A list parameter whose elements PostgreSQL quotes as identifiers
/// (`search_path`, …) is stored as `"$user", public` and must be given back one literal per element, or it
/// would become a single element; other values are one literal. This is what `pg_dump` does.
pub fn setting_value(name: &str, value: &str) -> String {
    const QUOTED_LISTS: [&str; 6] = [
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    ];
    if !QUOTED_LISTS.iter().any(|list| list.eq_ignore_ascii_case(name)) {
        return quote_literal(value);
    }
    match split_list(value) {
        Some(elements) if !elements.is_empty() => {
            elements.iter().map(|e| quote_literal(e)).collect::<Vec<_>>().join(", ")
        }
        _ => quote_literal(value),
    }
}

/// A parameter name, each dotted part quoted as an identifier: `app.tenant` → `"app"."tenant"`.
pub fn quote_parameter(name: &str) -> String {
    name.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

/// The elements of a stored list value, split the way `pg_dump` splits it: comma-separated, whitespace
/// around elements ignored, `"…"` elements unquoted (`""` inside is one `"`). `None` if it is malformed.
fn split_list(value: &str) -> Option<Vec<String>> {
    let mut elements = Vec::new();
    let mut rest = value.trim_start();
    if rest.is_empty() {
        return Some(elements);
    }
    loop {
        let element;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return None,
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            text.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => text.push(c),
                }
            };
            element = text;
            rest = &quoted[end..];
        } else {
            let end = rest.find(|c: char| c == ',' || c.is_ascii_whitespace()).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            element = rest[..end].to_string();
            rest = &rest[end..];
        }
        elements.push(element);
        rest = rest.trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if rest.is_empty() {
            return Some(elements);
        } else {
            return None;
        }
    }
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

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(quote_literal("5min"), "'5min'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(""), "''");
        // Under standard_conforming_strings = off, '\' would end the literal early; E'' reads the same
        // under both settings.
        assert_eq!(quote_literal("a\\'; DROP"), "E'a\\\\''; DROP'");
    }

    #[test]
    fn literals_with_control_characters_become_escape_strings() {
        let hostile = "x'\nDROP ROLE sentinel; --";
        let quoted = quote_literal(hostile);
        assert_eq!(quoted, "E'x''\\u000aDROP ROLE sentinel; --'");
        assert!(!quoted.chars().any(char::is_control));
        assert_eq!(quote_literal("a\u{202e}b"), "E'a\\u202eb'");
    }

    #[test]
    fn list_settings_are_one_literal_per_element() {
        assert_eq!(setting_value("statement_timeout", "5min"), "'5min'");
        assert_eq!(setting_value("search_path", "\"$user\", public"), "'$user', 'public'");
        assert_eq!(setting_value("SEARCH_PATH", "\"a \"\"b\"\"\",c"), "'a \"b\"', 'c'");
        assert_eq!(setting_value("search_path", "\"\""), "''");
        // Malformed or empty: one literal, as stored.
        assert_eq!(setting_value("search_path", "\"open"), "'\"open'");
        assert_eq!(setting_value("search_path", ""), "''");
        assert_eq!(setting_value("application_name", "a, b"), "'a, b'");
    }

    #[test]
    fn parameter_names_are_quoted_part_by_part() {
        assert_eq!(quote_parameter("statement_timeout"), "\"statement_timeout\"");
        assert_eq!(quote_parameter("app.tenant"), "\"app\".\"tenant\"");
    }
}
