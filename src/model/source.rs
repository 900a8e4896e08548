//! The source as the rules see it beyond the cluster: the attached and the migration DB cluster parameter
//! groups, and what SQL on the writer showed (version, settings, slots, the migration user, S9's probe).
//! Plain data, no I/O.

use super::cluster::{Parameter, ParameterGroup};
use std::collections::BTreeMap;

/// The group parameters the rules set (S3–S6).
pub const MANAGED_PARAMETERS: [&str; 4] =
    ["rds.logical_replication", "max_replication_slots", "max_wal_senders", "wal_sender_timeout"];

/// The `pg_settings` rows the rules compare with the group.
pub const SETTINGS: [&str; 5] =
    ["wal_level", "rds.logical_replication", "max_replication_slots", "max_wal_senders", "wal_sender_timeout"];

/// The prefix of the temporary slot S9 creates; slots named so are not counted as slots in use.
pub const CHECK_SLOT_PREFIX: &str = "migprep_check_";

/// The source's observed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The group attached to the cluster.
    pub current: GroupState,
    /// The name migprep gives a group it creates (`desired.parameter_group`, default `<cluster>-migration`).
    pub migration_name: String,
    /// The group of that name when it exists and is not the attached one.
    pub migration: Option<GroupState>,
    /// What SQL on the writer showed; `Err` (why) when the writer could not be read.
    pub database: Result<Database, String>,
}

/// One DB cluster parameter group as the rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    pub group: ParameterGroup,
    /// Every cluster in the account and region that uses it.
    pub users: Vec<String>,
    /// Every parameter the user set (`Source=user`, all pages).
    pub user_parameters: Vec<Parameter>,
    /// [`MANAGED_PARAMETERS`], with their metadata (apply type, allowed values).
    pub managed: Vec<Parameter>,
}

impl GroupState {
    pub fn managed(&self, name: &str) -> Option<&Parameter> {
        self.managed.iter().find(|p| p.name == name)
    }

    pub fn user_value(&self, name: &str) -> Option<&str> {
        self.user_parameters.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
    }
}

/// SQL on the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Database {
    pub version_num: u32,
    pub version: String,
    /// `pg_settings.setting` of [`SETTINGS`] (numbers in their base unit, e.g. ms).
    pub settings: BTreeMap<String, String>,
    /// Replication slots that exist (migprep's own check slot excluded).
    pub slots: u32,
    /// Walsenders in use (`pg_stat_replication`).
    pub walsenders: u32,
    pub rds_replication_exists: bool,
    pub migration_user_exists: bool,
    /// `pg_has_role(user, 'rds_replication', 'MEMBER')`; false when either role is missing.
    pub migration_user_is_member: bool,
    /// S10, per selected database, in the spec's order.
    pub access: Vec<DatabaseAccess>,
    pub decoding: Decoding,
}

impl Database {
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }
}

/// What the migration user may do in one selected database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseAccess {
    pub name: String,
    pub exists: bool,
    pub connect: bool,
    /// Schemas holding tables the user cannot read: (schema, has USAGE, tables without SELECT).
    pub unreadable: Vec<(String, bool, u32)>,
    /// The database could not be inspected (why).
    pub problem: Option<String>,
}

/// S9: whether logical decoding with `test_decoding` works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// Not tried: `wal_level` is not `logical` yet (the check runs after S3/S7).
    NotTried,
    /// A temporary slot was created, decoded from and dropped.
    Works,
    /// The connection user may not create slots (not the migration user's problem).
    NoPrivilege(String),
    /// It failed for another reason (the message).
    Failed(String),
}
