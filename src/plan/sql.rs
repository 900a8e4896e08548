//! SQL text the operations run, built in one place. Role and grant statements are utility commands,
//! which PostgreSQL does not let bind parameters into, so every name is quoted as an identifier here.

/// A double-quoted SQL identifier, so that case and any character survive: `Mig "rator"` →
/// `"Mig ""rator"""`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_quotes_doubled() {
        assert_eq!(quote_ident("migrator"), "\"migrator\"");
        assert_eq!(quote_ident("Mig \"rator\""), "\"Mig \"\"rator\"\"\"");
        assert_eq!(quote_ident("a\nb"), "\"a\nb\"");
    }
}
