//! What the roles rules (T7, T8) need: the roles, memberships and role-level settings on both databases,
//! and what the target's connection user may do, its databases and parameters.
//!
//! Roles come from `pg_roles`, never `pg_authid`: Aurora's master user cannot read `pg_authid`, so
//! passwords are not observable and are never copied. Memberships come from `pg_auth_members` and role
//! settings from `pg_db_role_setting`, which any user may read. Each side's statements are pipelined on
//! its one shared connection: one round trip per side.
//!
//! SQL failures are not returned as problems: the N1 reachability check already reports a database that
//! cannot be reached, so that side is then recorded as `Err` (why) and the rules skip what needs it.

use crate::clients::postgres::{Pool, sql_error};
use crate::error::UserError;
use crate::model::roles::{Membership, Parameter, Role, RoleCatalog, RoleSetting, Roles, TargetRoles};

/// Reads both sides concurrently.
pub async fn observe(source: &Pool, target: &Pool) -> Result<RoleCatalog, Vec<UserError>> {
    let (source, target) = tokio::join!(source_roles(source), target_roles(target));
    Ok(RoleCatalog { source, target })
}

async fn source_roles(pool: &Pool) -> Result<Roles, String> {
    let client = pool.main().await.map_err(|e| e.to_string())?;
    read_roles(&client).await
}

async fn target_roles(pool: &Pool) -> Result<TargetRoles, String> {
    let client = pool.main().await.map_err(|e| e.to_string())?;
    // Pipelined with the roles' statements: one round trip for all of them.
    let user = client.query_typed_one(
        "SELECT current_setting('server_version_num')::int,
                current_user::text,
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'azure_pg_admin')
                    AND pg_has_role(current_user, 'azure_pg_admin', 'MEMBER'),
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'azure_pg_admin')
                    AND pg_has_role(current_user, 'azure_pg_admin', 'MEMBER WITH ADMIN OPTION')",
        &[],
    );
    let databases = client.query_typed("SELECT datname::text FROM pg_database ORDER BY 1", &[]);
    let parameters = client.query_typed("SELECT name, context FROM pg_settings ORDER BY 1", &[]);
    let (roles, row, databases, parameters) = tokio::join!(read_roles(&client), user, databases, parameters);
    let roles = roles?;
    let row = row.map_err(|e| sql_error("reading the target connection user's roles", e))?;
    let databases = databases.map_err(|e| sql_error("reading pg_database", e))?.iter().map(|r| r.get(0)).collect();
    let parameters = parameters
        .map_err(|e| sql_error("reading pg_settings", e))?
        .iter()
        .map(|r| Parameter { name: r.get(0), context: r.get(1) })
        .collect();
    let version_num: i32 = row.get(0);
    Ok(TargetRoles {
        roles,
        version_num: version_num.max(0) as u32,
        user: row.get(1),
        in_azure_pg_admin: row.get(2),
        admin_of_azure_pg_admin: row.get(3),
        databases,
        parameters,
    })
}

async fn read_roles(client: &tokio_postgres::Client) -> Result<Roles, String> {
    // The statements are pipelined. PostgreSQL 16 may hold several grants of one role to one member
    // (from different grantors), hence the grouping. The expiry is spelled in UTC so that both sides and
    // every session time zone show one instant the same way.
    let (roles, memberships, settings) = tokio::join!(
        client.query_typed(
            "SELECT rolname::text, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                    rolreplication, rolbypassrls, rolconnlimit,
                    CASE WHEN isfinite(rolvaliduntil)
                         THEN to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00\"')
                         ELSE rolvaliduntil::text END
               FROM pg_roles ORDER BY rolname",
            &[],
        ),
        client.query_typed(
            "SELECT r.rolname::text, m.rolname::text, bool_or(a.admin_option)
               FROM pg_auth_members a
               JOIN pg_roles r ON r.oid = a.roleid
               JOIN pg_roles m ON m.oid = a.member
              GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        ),
        // Settings of one role (`setrole` 0 is a database's own setting, not T7's); a per-database row
        // whose database was dropped is left out rather than read as a setting for every database.
        client.query_typed(
            "SELECT r.rolname::text, d.datname::text, c.setting
               FROM pg_db_role_setting s
               JOIN pg_roles r ON r.oid = s.setrole
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
               CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
              WHERE s.setdatabase = 0 OR d.oid IS NOT NULL
              ORDER BY 1, 2 NULLS FIRST, 3",
            &[],
        ),
    );
    let roles = roles
        .map_err(|e| sql_error("reading pg_roles", e))?
        .iter()
        .map(|r| Role {
            name: r.get(0),
            superuser: r.get(1),
            inherit: r.get(2),
            createrole: r.get(3),
            createdb: r.get(4),
            login: r.get(5),
            replication: r.get(6),
            bypassrls: r.get(7),
            connection_limit: r.get(8),
            valid_until: r.get(9),
        })
        .collect();
    let memberships = memberships
        .map_err(|e| sql_error("reading pg_auth_members", e))?
        .iter()
        .map(|r| Membership { role: r.get(0), member: r.get(1), admin_option: r.get(2) })
        .collect();
    let settings = settings
        .map_err(|e| sql_error("reading pg_db_role_setting", e))?
        .iter()
        .filter_map(|r| {
            // Stored as `name=value`; a name never holds `=`.
            let setting: String = r.get(2);
            let (name, value) = setting.split_once('=')?;
            Some(RoleSetting { role: r.get(0), database: r.get(1), name: name.into(), value: value.into() })
        })
        .collect();
    Ok(Roles { roles, memberships, settings })
}
