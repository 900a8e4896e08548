//! Performs the target's role operations (T7, T8) as the target connection user. Each re-observes first
//! and does nothing if the role, membership or attribute is already there, so a retried or resumed apply
//! is harmless. Statements come from [`TargetSqlOp::statement`] (identifiers quoted), the same text
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
        TargetSqlOp::GrantMembership { role, member, .. } => {
            let member_now: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_auth_members a
                                      JOIN pg_roles r ON r.oid = a.roleid
                                      JOIN pg_roles m ON m.oid = a.member
                                     WHERE r.rolname = $1 AND m.rolname = $2)",
                    &[role, member],
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
