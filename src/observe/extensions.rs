//! What the extension and parameter-parity rules (T4–T6) need from the source beyond what the source
//! rules read: the extensions installed in every selected database, and `pg_settings` on the writer
//! (each parameter's effective value and unit, so values can be converted into the target's units).
//!
//! The target's side (`azure.extensions`, `shared_preload_libraries` and every other server parameter,
//! with allowed values) is already in [`super::target::TargetState`], and the source group's user-set
//! parameters in [`super::source::SourceState`]; neither is read twice.
//!
//! SQL failures do not stop the run: N1 reports an unreachable writer and S10 a missing database, so a
//! database that cannot be read is recorded with the reason and the rules say the check could not run.

use crate::clients::postgres::{Pool, sql_error};
use crate::error::UserError;
use crate::model::extensions::{DatabaseExtensions, Extensions, Setting};
use crate::spec::Spec;
use std::collections::BTreeMap;

/// Reads the source databases' extensions and the writer's `pg_settings`, all concurrently.
pub async fn observe(spec: &Spec, source: &Pool) -> Result<Extensions, Vec<UserError>> {
    let databases = spec.source.databases.iter().map(|name| database_extensions(source, name));
    let (databases, settings) = tokio::join!(futures::future::join_all(databases), settings(source));
    Ok(Extensions { databases, settings })
}

/// `pg_extension` of one database, on that database's connection (extensions are per database).
async fn database_extensions(source: &Pool, name: &str) -> DatabaseExtensions {
    let mut result = DatabaseExtensions { name: name.to_string(), ..DatabaseExtensions::default() };
    let read = async {
        let client = source.client(name).await.map_err(|e| e.to_string())?;
        let rows = client
            .query_typed("SELECT extname::text FROM pg_extension ORDER BY extname", &[])
            .await
            .map_err(|e| sql_error(&format!("reading pg_extension in database {name}"), e))?;
        Ok::<_, String>(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    };
    match read.await {
        Ok(extensions) => result.extensions = extensions,
        Err(problem) => result.problem = Some(problem),
    }
    result
}

/// Every `pg_settings` row of the writer (a few hundred; one statement, pipelined with the other source
/// observers' on the shared connection). All rows, whatever their source: T6 needs the unit and type of
/// every parameter the group sets, and decides itself which sources count.
async fn settings(writer: &Pool) -> Result<BTreeMap<String, Setting>, String> {
    let client = writer.main().await.map_err(|e| e.to_string())?;
    let rows = client
        .query_typed("SELECT name, setting, unit, vartype, source, boot_val FROM pg_settings", &[])
        .await
        .map_err(|e| sql_error("reading pg_settings on the writer", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let setting = Setting {
                name: r.get(0),
                setting: r.get::<_, Option<String>>(1).unwrap_or_default(),
                unit: r.get(2),
                vartype: r.get(3),
                source: r.get(4),
                boot_value: r.get(5),
            };
            (setting.name.to_ascii_lowercase(), setting)
        })
        .collect())
}
