//! What the sizing rules (T9, T10) need beyond the cluster and the server: how large the selected source
//! databases are, and the compute sizes the flexible server can move to (its `capabilities`).
//!
//! The writer's instance class and the server's SKU and storage are already in the cluster and the server.
//! Neither read stops the run: N1 reports an unreachable writer, so a failed read is recorded with the
//! reason and the rules say what could not be compared.

use crate::clients::Clients;
use crate::clients::postgres::Pool;
use crate::error::UserError;
use crate::model::sizing::{DatabaseSize, Sizing};
use crate::spec::Spec;
use tokio_postgres::types::Type;

/// Reads what the rules need, both reads at once. Problems are returned together.
pub async fn observe(spec: &Spec, clients: &Clients, source: &Pool) -> Result<Sizing, Vec<UserError>> {
    let (database_sizes, capabilities) =
        tokio::join!(database_sizes(source, &spec.source.databases), clients.arm.capabilities(&clients.server),);
    Ok(Sizing { database_sizes, capabilities: capabilities.map_err(|e| e.to_user_error().message) })
}

/// One query on one connection: `pg_database_size` takes any database's name, so there is no need to
/// connect to each database (and a database that does not exist is simply absent; S10 reports it).
async fn database_sizes(writer: &Pool, names: &[String]) -> Result<Vec<DatabaseSize>, String> {
    let client = writer.main().await.map_err(|e| e.to_string())?;
    let rows = client
        .query_typed(
            "SELECT datname::text, pg_database_size(datname)::bigint FROM pg_database WHERE datname = ANY($1)",
            &[(&names, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(|e| format!("reading pg_database_size on the source: {e}"))?;
    let mut sizes: Vec<DatabaseSize> = rows
        .iter()
        .map(|row| DatabaseSize { name: row.get(0), bytes: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0) })
        .collect();
    sizes.sort_by_key(|s| names.iter().position(|n| *n == s.name));
    Ok(sizes)
}
