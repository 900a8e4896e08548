//! SQL operations on the flexible server's roles (T7, T8). Data only, plus the one statement each makes:
//! the same text is run by `apply` and written by `plan --roles-sql` for review, so what a reviewer reads
//! is what runs.
//!
//! Role statements are utility commands, which PostgreSQL does not let bind parameters into; every name
//! is therefore quoted as an identifier, every value (a role setting, an expiry time) as a string literal,
//! and a connection limit is an integer. There is deliberately no operation that drops or weakens a role.

use super::sql::{quote_ident, quote_literal, quote_parameter, setting_value};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TargetSqlOp {
    /// `CREATE ROLE` with the source role's attributes, never SUPERUSER, REPLICATION or BYPASSRLS (the
    /// flexible server grants none of them) and never a password (Aurora does not expose them).
    CreateRole {
        name: String,
        login: bool,
        inherit: bool,
        createdb: bool,
        createrole: bool,
        /// `-1` for no limit.
        connection_limit: i32,
        /// When the role's password stops working (`VALID UNTIL`), as the source shows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_until: Option<String>,
    },
    /// `GRANT <role> TO <member>`, with the admin option when the source has it.
    GrantMembership { role: String, member: String, admin_option: bool },
    /// `ALTER ROLE <role> CREATEROLE` (T8: the migration service creates roles on the target).
    AllowCreateRole { role: String },
    /// `ALTER ROLE <role> [IN DATABASE <database>] SET <name> TO <value>`: a role-level setting, `value` as
    /// `pg_db_role_setting` stores it (see [`setting_value`]).
    SetRoleSetting { role: String, database: Option<String>, name: String, value: String },
}

impl TargetSqlOp {
    /// The statement, without the trailing `;`.
    pub fn statement(&self) -> String {
        match self {
            TargetSqlOp::CreateRole { name, login, inherit, createdb, createrole, connection_limit, valid_until } => {
                let flag = |on: bool, word: &str| if on { word.to_string() } else { format!("NO{word}") };
                let mut statement = format!(
                    "CREATE ROLE {} WITH {} {} {} {}",
                    quote_ident(name),
                    flag(*login, "LOGIN"),
                    flag(*inherit, "INHERIT"),
                    flag(*createdb, "CREATEDB"),
                    flag(*createrole, "CREATEROLE"),
                );
                if *connection_limit >= 0 {
                    statement.push_str(&format!(" CONNECTION LIMIT {connection_limit}"));
                }
                if let Some(until) = valid_until {
                    statement.push_str(&format!(" VALID UNTIL {}", quote_literal(until)));
                }
                statement
            }
            TargetSqlOp::GrantMembership { role, member, admin_option } => {
                let admin = if *admin_option { " WITH ADMIN OPTION" } else { "" };
                format!("GRANT {} TO {}{admin}", quote_ident(role), quote_ident(member))
            }
            TargetSqlOp::AllowCreateRole { role } => format!("ALTER ROLE {} CREATEROLE", quote_ident(role)),
            TargetSqlOp::SetRoleSetting { role, database, name, value } => {
                let scope = match database {
                    Some(database) => format!(" IN DATABASE {}", quote_ident(database)),
                    None => String::new(),
                };
                format!(
                    "ALTER ROLE {}{scope} SET {} TO {}",
                    quote_ident(role),
                    quote_parameter(name),
                    setting_value(name, value)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_names_and_spell_every_attribute() {
        let create = TargetSqlOp::CreateRole {
            name: "App \"rw\"".into(),
            login: true,
            inherit: false,
            createdb: true,
            createrole: false,
            connection_limit: 5,
            valid_until: Some("2030-01-01 00:00:00+00".into()),
        };
        assert_eq!(
            create.statement(),
            "CREATE ROLE \"App \"\"rw\"\"\" WITH LOGIN NOINHERIT CREATEDB NOCREATEROLE CONNECTION LIMIT 5 \
             VALID UNTIL '2030-01-01 00:00:00+00'"
        );
        let unlimited = TargetSqlOp::CreateRole {
            name: "r".into(),
            login: false,
            inherit: true,
            createdb: false,
            createrole: false,
            connection_limit: -1,
            valid_until: None,
        };
        assert_eq!(unlimited.statement(), "CREATE ROLE \"r\" WITH NOLOGIN INHERIT NOCREATEDB NOCREATEROLE");
        let grant = TargetSqlOp::GrantMembership { role: "g".into(), member: "m".into(), admin_option: true };
        assert_eq!(grant.statement(), "GRANT \"g\" TO \"m\" WITH ADMIN OPTION");
        assert_eq!(TargetSqlOp::AllowCreateRole { role: "u".into() }.statement(), "ALTER ROLE \"u\" CREATEROLE");
    }

    #[test]
    fn role_settings_quote_the_name_and_the_value() {
        let everywhere = TargetSqlOp::SetRoleSetting {
            role: "app".into(),
            database: None,
            name: "statement_timeout".into(),
            value: "5min".into(),
        };
        assert_eq!(everywhere.statement(), "ALTER ROLE \"app\" SET \"statement_timeout\" TO '5min'");
        let one_database = TargetSqlOp::SetRoleSetting {
            role: "app".into(),
            database: Some("orders".into()),
            name: "search_path".into(),
            value: "\"$user\", app".into(),
        };
        assert_eq!(
            one_database.statement(),
            "ALTER ROLE \"app\" IN DATABASE \"orders\" SET \"search_path\" TO '$user', 'app'"
        );
        let hostile = TargetSqlOp::SetRoleSetting {
            role: "app".into(),
            database: None,
            name: "application_name".into(),
            value: "x';\nDROP ROLE sentinel; --".into(),
        };
        assert_eq!(
            hostile.statement(),
            "ALTER ROLE \"app\" SET \"application_name\" TO E'x'';\\u000aDROP ROLE sentinel; --'"
        );
    }
}
