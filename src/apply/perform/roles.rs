//! Performs the target's role operations (T7, T8) as the target connection user. Each re-observes first
//! and does nothing if the role, membership (with the admin option asked for), attribute or role setting
//! is already there, so a retried or resumed apply is harmless; the statements themselves are idempotent
//! too (`GRANT` of a held role, `ALTER ROLE … SET` to the same value). Statements come from [`TargetSqlOp::statement`] (identifiers quoted), the same text
//! `plan --roles-sql` writes; lookups bind their values. No role is ever dropped.

use crate::clients::postgres;
use crate::clients::{Clients, Databases};
use crate::error::UserError;
use crate::plan::operation::TargetSqlOp;

pub async fn perform(op: &TargetSqlOp, clients: &Clients, databases: &Databases) -> anyhow::Result<Option<String>> {
    let endpoint = &databases.target;
    let client = postgres::connect(endpoint, &clients.trust, postgres::CONNECT_TIMEOUT)
        .await
        .map_err(|e| UserError::new(format!("cannot connect to the target server: {e}")).hint(e.hint(endpoint.side)))?;
    let (done, outcome) = match op {
        TargetSqlOp::CreateRole { name, .. } => {
            let exists = client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[name])
                .await
                .map_err(|e| sql(format!("looking up role {name:?} on the target"), e))?
                .is_some();
            (exists, "present")
        }
        TargetSqlOp::GrantMembership { role, member, admin_option } => {
            let member_now: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_auth_members a
                                      JOIN pg_roles r ON r.oid = a.roleid
                                      JOIN pg_roles m ON m.oid = a.member
                                     WHERE r.rolname = $1 AND m.rolname = $2 AND (a.admin_option OR NOT $3))",
                    &[role, member, admin_option],
                )
                .await
                .map_err(|e| sql(format!("checking whether {member:?} is a member of {role:?} on the target"), e))?
                .get(0);
            (member_now, "member")
        }
        TargetSqlOp::AllowCreateRole { role } => {
            let has: bool = client
                .query_opt("SELECT rolcreaterole FROM pg_roles WHERE rolname = $1", &[role])
                .await
                .map_err(|e| sql(format!("reading role {role:?} on the target"), e))?
                .is_some_and(|row| row.get(0));
            (has, "CREATEROLE")
        }
        TargetSqlOp::SetRoleSetting { role, database, name, value } => {
            let stored = format!("{name}={value}");
            let set: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                                     WHERE r.rolname = $1
                                       AND s.setdatabase = CASE WHEN $2::text IS NULL THEN 0
                                               ELSE (SELECT oid FROM pg_database WHERE datname = $2) END
                                       AND $3 = ANY (s.setconfig))",
                    &[role, database, &stored],
                )
                .await
                .map_err(|e| sql(format!("reading role {role:?}'s setting {name:?} on the target"), e))?
                .get(0);
            (set, "set")
        }
    };
    if !done {
        let statement = op.statement();
        client.batch_execute(&statement).await.map_err(|e| sql(format!("{statement} on the target"), e))?;
    }
    Ok(Some(outcome.to_string()))
}

fn sql(what: String, error: tokio_postgres::Error) -> anyhow::Error {
    UserError::new(postgres::sql_error(&format!("{what} failed"), error))
        .hint("the target connection user must have CREATEROLE and be a member of azure_pg_admin (T8)")
        .into()
}
