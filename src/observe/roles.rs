//! What the roles rules (T7, T8) need: the roles and memberships on both databases, and what the target's
//! connection user may do.
//!
//! Roles come from `pg_roles`, never `pg_authid`: Aurora's master user cannot read `pg_authid`, so
//! passwords are not observable and are never copied. Memberships come from `pg_auth_members`, which any
//! user may read.
//!
//! SQL failures are not returned as problems: the N1 reachability check already reports a database that
//! cannot be reached, so that side is then recorded as `Err` (why) and the rules skip what needs it.

use crate::clients::postgres::{Pool, sql_error};
use crate::error::UserError;
use crate::model::roles::{Membership, Role, RoleCatalog, Roles, TargetRoles};

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
    // Pipelined with the roles' two statements: one round trip for all three.
    let user = client.query_typed_one(
        "SELECT current_setting('server_version_num')::int,
                current_user::text,
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'azure_pg_admin')
                    AND pg_has_role(current_user, 'azure_pg_admin', 'MEMBER'),
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'azure_pg_admin')
                    AND pg_has_role(current_user, 'azure_pg_admin', 'MEMBER WITH ADMIN OPTION')",
        &[],
    );
    let (roles, row) = tokio::join!(read_roles(&client), user);
    let roles = roles?;
    let row = row.map_err(|e| sql_error("reading the target connection user's roles", e))?;
    let version_num: i32 = row.get(0);
    Ok(TargetRoles {
        roles,
        version_num: version_num.max(0) as u32,
        user: row.get(1),
        in_azure_pg_admin: row.get(2),
        admin_of_azure_pg_admin: row.get(3),
    })
}

async fn read_roles(client: &tokio_postgres::Client) -> Result<Roles, String> {
    // Both statements are pipelined. PostgreSQL 16 may hold several grants of one role to one member
    // (from different grantors), hence the grouping.
    let (roles, memberships) = tokio::join!(
        client.query_typed(
            "SELECT rolname::text, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                    rolreplication, rolbypassrls, rolconnlimit
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
        })
        .collect();
    let memberships = memberships
        .map_err(|e| sql_error("reading pg_auth_members", e))?
        .iter()
        .map(|r| Membership { role: r.get(0), member: r.get(1), admin_option: r.get(2) })
        .collect();
    Ok(Roles { roles, memberships })
}
