//! What the source rules need from the Aurora cluster and its writer, beyond the cluster itself.
//!
//! Two halves, read concurrently:
//! - the RDS API: the attached DB cluster parameter group (family, which clusters use it, every user-set
//!   parameter, and the few parameters the rules set, through the `parameter-name` filter), and the same
//!   for the migration group of the chosen name if one already exists (an earlier run, or someone else's).
//!   A managed parameter missing from a group's listing is at its engine default, read for the family
//!   only then (RDS lists every parameter; an emulator's custom groups start empty);
//! - SQL on the writer, as the spec's connection user: the version, the effective values in `pg_settings`
//!   (the API may show a formula or nothing), slots and walsenders in use, the migration user's role and
//!   `rds_replication` membership, its read privileges on every selected database, and the S9 check with a
//!   temporary `test_decoding` slot, created and dropped.
//!
//! API failures stop the run (they are reported with the other cloud problems). SQL failures do not: the
//! N1 reachability check already reports an unreachable writer, so the SQL half is then just absent.

use crate::clients::Clients;
use crate::clients::postgres::{self, Pool, sql_error};
use crate::clients::rds::{ParameterSource, Rds};
use crate::error::UserError;
use crate::model::cluster::{Cluster, Parameter};
use crate::model::source::{
    CHECK_SLOT_PREFIX, Database, DatabaseAccess, Decoding, GroupState, MANAGED_PARAMETERS, SETTINGS, Source,
};
use crate::spec::Spec;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// How long the S9 slot may take to be created (it waits for running transactions to finish).
const DECODING_TIMEOUT: Duration = Duration::from_secs(15);
/// The migration group's name: the spec's, else `<cluster>-migration`.
pub fn migration_group_name(spec: &Spec) -> String {
    spec.desired.parameter_group_for(&spec.source.cluster)
}

/// Reads the source. Problems are returned together.
pub async fn observe(spec: &Spec, clients: &Clients, cluster: &Cluster, pool: &Pool) -> Result<Source, Vec<UserError>> {
    let migration_name = migration_group_name(spec);
    let rds = &clients.rds;
    let other = (migration_name != cluster.parameter_group).then_some(migration_name.as_str());
    let (current, migration, database) = tokio::join!(
        group_state(rds, &cluster.parameter_group),
        async {
            match other {
                Some(name) => group_state(rds, name).await,
                None => Ok(None),
            }
        },
        database(spec, pool),
    );
    let mut problems = Vec::new();
    let mut current = current.map_err(|e| problems.push(e)).ok();
    let mut migration = migration.map_err(|e| problems.push(e)).ok();
    let mut to_complete: Vec<&mut GroupState> =
        [current.as_mut(), migration.as_mut()].into_iter().flatten().flatten().filter(|g| incomplete(g)).collect();
    if let Err(e) = with_engine_defaults(rds, &mut to_complete).await {
        problems.push(e);
        return Err(problems);
    }
    match (current, migration) {
        (Some(Some(current)), Some(migration)) => Ok(Source { current, migration_name, migration, database }),
        (Some(None), _) => Err(vec![
            UserError::new(format!(
                "DB cluster parameter group {} of cluster {} not found",
                cluster.parameter_group, cluster.id
            ))
            .hint("the cluster changed while migprep read it; run `migprep plan` again"),
        ]),
        _ => Err(problems),
    }
}

/// A group with its users and parameters, or `None` if there is no group of that name.
async fn group_state(rds: &Rds, name: &str) -> Result<Option<GroupState>, UserError> {
    let Some(group) = rds.parameter_group(name).await? else {
        return Ok(None);
    };
    let (users, user_parameters, managed) = tokio::join!(
        rds.clusters_using_group(&group.name),
        rds.parameters(&group.name, Some(ParameterSource::User), &[]),
        rds.parameters(&group.name, None, &MANAGED_PARAMETERS),
    );
    Ok(Some(GroupState { group, users: users?, user_parameters: user_parameters?, managed: managed? }))
}

/// The managed parameters a group's listing lacks, or lists bare: a value without `Source` and the
/// rest of RDS's metadata (an emulator's answer for a value set through a modify).
fn missing(state: &GroupState) -> Vec<&'static str> {
    MANAGED_PARAMETERS.into_iter().filter(|name| state.managed(name).is_none_or(is_bare)).collect()
}

fn is_bare(parameter: &Parameter) -> bool {
    parameter.source.is_none()
}

/// Whether the group's listing needs the family's engine defaults to be complete.
fn incomplete(state: &GroupState) -> bool {
    !missing(state).is_empty() || state.user_parameters.iter().any(is_bare)
}
/// Reads the engine defaults of each family of `groups` once, and completes their managed parameters.
async fn with_engine_defaults(rds: &Rds, groups: &mut [&mut GroupState]) -> Result<(), UserError> {
    let mut families: Vec<String> = groups.iter().map(|g| g.group.family.clone()).collect();
    families.sort();
    families.dedup();
    let defaults = futures::future::try_join_all(families.iter().map(|family| rds.engine_defaults(family))).await?;
    for group in groups.iter_mut() {
        if let Some(i) = families.iter().position(|f| *f == group.group.family) {
            complete(group, &defaults[i]);
        }
    }
    Ok(())
}

/// Completes a group's listing from the family's engine defaults: a managed parameter the listing lacks
/// is at its default; a parameter listed bare keeps its value and takes the family's metadata (apply
/// type, allowed values, modifiable). One the family lacks too stays as it is: S3–S6 report a managed one
/// as not a parameter of the family, S2 does not carry a user value RDS would refuse.
fn complete(state: &mut GroupState, defaults: &[Parameter]) {
    let default = |name: &str| defaults.iter().find(|p| p.name == name);
    for name in missing(state) {
        if let (None, Some(default)) = (state.managed(name), default(name)) {
            state.managed.push(default.clone());
        }
    }
    for listed in state.managed.iter_mut().chain(state.user_parameters.iter_mut()).filter(|p| is_bare(p)) {
        if let Some(default) = default(&listed.name) {
            listed.apply_type = default.apply_type.clone();
            listed.data_type = default.data_type.clone();
            listed.allowed_values = default.allowed_values.clone();
            listed.is_modifiable = default.is_modifiable;
        }
    }
}

/// SQL on the writer: the shared connections of `pool`, and one of its own for the decoding check.
async fn database(spec: &Spec, pool: &Pool) -> Result<Database, String> {
    let user = spec.source.migration_user.as_str();
    let (main, access, decoding) = tokio::join!(main_facts(pool, user), access(spec, pool), decoding(pool));
    let mut database = main?;
    database.access = access;
    database.decoding = decoding;
    Ok(database)
}

/// A statement parameter with its type, so the statement needs no round trip to be prepared.
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

async fn main_facts(pool: &Pool, user: &str) -> Result<Database, String> {
    let client = pool.main().await.map_err(|e| e.to_string())?;
    let names: Vec<&str> = SETTINGS.to_vec();
    let facts_params: [Param; 2] = [(&user, Type::TEXT), (&CHECK_SLOT_PREFIX, Type::TEXT)];
    let settings_params: [Param; 1] = [(&names, Type::TEXT_ARRAY)];
    // Both statements go out at once and are pipelined on the connection: one round trip.
    let facts = client.query_typed_one(
        "SELECT current_setting('server_version_num')::int,
                current_setting('server_version'),
                (SELECT count(*) FROM pg_replication_slots WHERE slot_name NOT LIKE $2 || '%')::int,
                (SELECT count(*) FROM pg_stat_replication)::int,
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication'),
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
                CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication')
                      AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                     THEN pg_has_role($1, 'rds_replication', 'MEMBER') ELSE false END",
        &facts_params,
    );
    let settings = client.query_typed("SELECT name, setting FROM pg_settings WHERE name = ANY($1)", &settings_params);
    let (facts, settings) = tokio::join!(facts, settings);
    let facts = facts.map_err(|e| sql_error("reading the writer's version, slots and roles", e))?;
    let settings = settings.map_err(|e| sql_error("reading pg_settings on the writer", e))?;
    let count = |i: usize| facts.get::<_, i32>(i).max(0) as u32;
    Ok(Database {
        version_num: count(0),
        version: facts.get::<_, String>(1).split_whitespace().next().unwrap_or_default().to_string(),
        settings: settings.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect(),
        slots: count(2),
        walsenders: count(3),
        rds_replication_exists: facts.get(4),
        migration_user_exists: facts.get(5),
        migration_user_is_member: facts.get(6),
        access: Vec::new(),
        decoding: Decoding::NotTried,
    })
}

/// S10 for every selected database, each on its own (shared) connection.
async fn access(spec: &Spec, pool: &Pool) -> Vec<DatabaseAccess> {
    let user = spec.source.migration_user.as_str();
    let checks = spec.source.databases.iter().map(|name| async move {
        let mut access =
            DatabaseAccess { name: name.clone(), exists: true, connect: true, unreadable: Vec::new(), problem: None };
        if let Err(problem) = database_access(pool, name, user, &mut access).await {
            access.problem = Some(problem);
        }
        access
    });
    futures::future::join_all(checks).await
}

async fn database_access(pool: &Pool, database: &str, user: &str, access: &mut DatabaseAccess) -> Result<(), String> {
    let client = match pool.client(database).await {
        Ok(client) => client,
        Err(postgres::ConnectError::Rejected { sqlstate, .. }) if sqlstate == SqlState::UNDEFINED_DATABASE.code() => {
            access.exists = false;
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    let params: [Param; 1] = [(&user, Type::TEXT)];
    // Both statements go out at once (pipelined on the connection): one round trip. Joining on
    // pg_roles keeps them valid when the user does not exist.
    let role_and_connect = client.query_typed_one(
        "SELECT r.oid IS NOT NULL,
                CASE WHEN r.oid IS NOT NULL THEN has_database_privilege(r.oid, current_database(), 'CONNECT') END
           FROM (VALUES (1)) AS one LEFT JOIN pg_roles r ON r.rolname = $1",
        &params,
    );
    let tables = client.query_typed(
        "SELECT n.nspname::text, has_schema_privilege(r.oid, n.oid, 'USAGE'),
                (count(*) FILTER (WHERE NOT has_table_privilege(r.oid, c.oid, 'SELECT')))::int
           FROM pg_namespace n
           JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
          CROSS JOIN (SELECT oid FROM pg_roles WHERE rolname = $1) r
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
          GROUP BY n.nspname, n.oid, r.oid
          ORDER BY n.nspname",
        &params,
    );
    let (role, rows) = tokio::try_join!(role_and_connect, tables).map_err(|e| sql_error("reading privileges", e))?;
    if !role.get::<_, bool>(0) {
        // S8 reports the missing role; there are no privileges to look at.
        return Ok(());
    }
    access.connect = role.get::<_, Option<bool>>(1).unwrap_or(false);
    access.unreadable = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, bool>(1), r.get::<_, i32>(2).max(0) as u32))
        .filter(|(_, usage, tables)| !usage || *tables > 0)
        .collect();
    Ok(())
}

/// S9: a temporary `test_decoding` slot, created, decoded from, and dropped; only once `wal_level` is
/// `logical` (before that it cannot work, and S3/S7 say why). On a connection of its own: creating a
/// slot waits for running transactions, and must not hold up the shared connection meanwhile.
async fn decoding(pool: &Pool) -> Decoding {
    let client = match pool.dedicated().await {
        Ok(client) => client,
        Err(problem) => return Decoding::Failed(problem.to_string()),
    };
    let attempt = async {
        // One statement: the slot is created only when `wal_level` allows it (the subquery of a CASE
        // branch not taken is never run), and its name is NULL otherwise.
        let slot = client
            .query_typed_one(
                "SELECT CASE WHEN current_setting('wal_level') = 'logical' THEN
                            (SELECT slot_name::text
                               FROM pg_create_logical_replication_slot($1 || pg_backend_pid(), 'test_decoding', true))
                        END",
                &[(&CHECK_SLOT_PREFIX, Type::TEXT)],
            )
            .await?;
        let Some(name) = slot.get::<_, Option<String>>(0) else {
            return Ok(Decoding::NotTried);
        };
        // Peek and drop are pipelined. The slot is dropped explicitly even though a temporary slot goes
        // with the session: the session may linger.
        let slot: [Param; 1] = [(&name, Type::TEXT)];
        let (peeked, dropped) = tokio::join!(
            client.query_typed("SELECT 1 FROM pg_logical_slot_peek_changes($1, NULL, 1)", &slot),
            client.query_typed("SELECT pg_drop_replication_slot($1)::text", &slot),
        );
        peeked?;
        dropped?;
        Ok::<_, tokio_postgres::Error>(Decoding::Works)
    };
    match tokio::time::timeout(DECODING_TIMEOUT, attempt).await {
        Ok(Ok(decoding)) => decoding,
        Ok(Err(e)) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            Decoding::NoPrivilege(sql_error("creating a test_decoding slot", e))
        }
        Ok(Err(e)) => Decoding::Failed(sql_error("creating a test_decoding slot", e)),
        Err(_) => Decoding::Failed(format!(
            "creating a test_decoding slot took more than {} s (a long-running transaction delays it)",
            DECODING_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cluster::{ApplyType, ParameterGroup};

    fn parameter(name: &str, value: &str, source: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: Some(value.into()),
            source: Some(source.into()),
            apply_type: ApplyType::Static,
            data_type: Some("integer".into()),
            allowed_values: Some("0-100".into()),
            is_modifiable: true,
        }
    }

    /// A value as an emulator lists it after a modify: no `Source`, no metadata.
    fn bare(name: &str, value: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: Some(value.into()),
            source: None,
            apply_type: ApplyType::Other(String::new()),
            data_type: None,
            allowed_values: None,
            is_modifiable: false,
        }
    }

    fn group(managed: &[Parameter], user: &[Parameter]) -> GroupState {
        GroupState {
            group: ParameterGroup {
                name: "orders-pg".into(),
                family: "aurora-postgresql15".into(),
                description: String::new(),
            },
            users: vec!["orders-prod".into()],
            user_parameters: user.to_vec(),
            managed: managed.to_vec(),
        }
    }

    /// The group's listing, the engine defaults, how many managed parameters to complete, and
    /// `name = value (source, modifiable, allowed values)` afterwards.
    type Case<'a> = (Vec<Parameter>, &'a [Parameter], usize, &'a [&'a str]);

    #[test]
    fn a_parameter_missing_from_the_listing_is_at_its_engine_default() {
        let defaults = [
            parameter("rds.logical_replication", "0", "engine-default"),
            parameter("max_replication_slots", "20", "engine-default"),
            parameter("max_wal_senders", "10", "engine-default"),
            parameter("wal_sender_timeout", "60000", "engine-default"),
            parameter("work_mem", "4096", "engine-default"),
        ];
        let user = |n: &str, v: &str| parameter(n, v, "user");
        let full = [
            user("rds.logical_replication", "1"),
            user("max_replication_slots", "25"),
            user("max_wal_senders", "30"),
            user("wal_sender_timeout", "0"),
        ];
        let cases: Vec<Case> = vec![
            // Listed in full (RDS): nothing is added, the group's values win.
            (
                full.to_vec(),
                &defaults,
                0,
                &[
                    "max_replication_slots = 25 (user, true, 0-100)",
                    "max_wal_senders = 30 (user, true, 0-100)",
                    "rds.logical_replication = 1 (user, true, 0-100)",
                    "wal_sender_timeout = 0 (user, true, 0-100)",
                ],
            ),
            // An emulator's custom group with one value set: the rest are the family's defaults.
            (
                vec![user("max_wal_senders", "30")],
                &defaults,
                3,
                &[
                    "max_replication_slots = 20 (engine-default, true, 0-100)",
                    "max_wal_senders = 30 (user, true, 0-100)",
                    "rds.logical_replication = 0 (engine-default, true, 0-100)",
                    "wal_sender_timeout = 60000 (engine-default, true, 0-100)",
                ],
            ),
            // A value listed bare keeps its value and takes the family's metadata.
            (
                vec![bare("max_wal_senders", "12"), user("wal_sender_timeout", "0")],
                &defaults,
                3,
                &[
                    "max_replication_slots = 20 (engine-default, true, 0-100)",
                    "max_wal_senders = 12 (-, true, 0-100)",
                    "rds.logical_replication = 0 (engine-default, true, 0-100)",
                    "wal_sender_timeout = 0 (user, true, 0-100)",
                ],
            ),
            // The family's catalog lacks rds.logical_replication: it stays absent.
            (
                Vec::new(),
                &defaults[1..],
                4,
                &[
                    "max_replication_slots = 20 (engine-default, true, 0-100)",
                    "max_wal_senders = 10 (engine-default, true, 0-100)",
                    "wal_sender_timeout = 60000 (engine-default, true, 0-100)",
                ],
            ),
        ];
        for (listed, defaults, incomplete, expected) in cases {
            let mut state = group(&listed, &[]);
            assert_eq!(missing(&state).len(), incomplete, "{listed:?}");
            complete(&mut state, defaults);
            let mut got: Vec<String> = state
                .managed
                .iter()
                .map(|p| {
                    format!(
                        "{} = {} ({}, {}, {})",
                        p.name,
                        p.value.as_deref().unwrap_or(""),
                        p.source.as_deref().unwrap_or("-"),
                        p.is_modifiable,
                        p.allowed_values.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            got.sort();
            assert_eq!(got, expected, "{listed:?}");
        }
    }

    #[test]
    fn a_user_value_listed_bare_takes_the_family_s_metadata() {
        let defaults = [parameter("work_mem", "4096", "engine-default")];
        let mut state = group(&[], &[bare("work_mem", "8192"), bare("not_in_the_family", "1")]);
        assert!(incomplete(&state));
        complete(&mut state, &defaults);
        let work_mem = &state.user_parameters[0];
        assert_eq!((work_mem.value.as_deref(), work_mem.is_modifiable), (Some("8192"), true));
        assert_eq!(
            (work_mem.apply_type.clone(), work_mem.allowed_values.as_deref()),
            (ApplyType::Static, Some("0-100"))
        );
        assert!(!state.user_parameters[1].is_modifiable);
        // Listed with RDS's metadata: nothing to complete.
        let listed = group(&[], &[parameter("work_mem", "8192", "user")]);
        assert!(listed.user_parameters.iter().all(|p| !is_bare(p)));
    }
}
