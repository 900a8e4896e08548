//! Roles, memberships and role-level settings on both databases, and what the target's connection user
//! may do (T7, T8).
//! Plain data, no I/O.

/// Both sides' roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleCatalog {
    /// The source's roles and memberships; `Err` (why) when they could not be read.
    pub source: Result<Roles, String>,
    /// The target's roles, memberships and what its connection user may do.
    pub target: Result<TargetRoles, String>,
}

impl Default for RoleCatalog {
    fn default() -> Self {
        Self { source: Err("not observed".into()), target: Err("not observed".into()) }
    }
}

/// One role's attributes, as `pg_roles` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub inherit: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub login: bool,
    pub replication: bool,
    pub bypassrls: bool,
    /// `-1` for no limit.
    pub connection_limit: i32,
    /// `VALID UNTIL`, in UTC (`2030-01-01 00:00:00.000000+00`) or `infinity`; `None` when not set.
    pub valid_until: Option<String>,
}

/// A direct membership: `member` was granted `role`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Membership {
    pub role: String,
    pub member: String,
    pub admin_option: bool,
}

/// A role-level setting (`ALTER ROLE … [IN DATABASE …] SET name TO value`), from `pg_db_role_setting`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleSetting {
    pub role: String,
    /// `None` for every database.
    pub database: Option<String>,
    pub name: String,
    /// As the catalog stores it (a list parameter's elements quoted as identifiers).
    pub value: String,
}

/// The roles of one database server, sorted by name, its direct memberships and its role settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    pub roles: Vec<Role>,
    pub memberships: Vec<Membership>,
    pub settings: Vec<RoleSetting>,
}

impl Roles {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// `member`'s direct membership in `role`, if it was granted.
    pub fn membership(&self, member: &str, role: &str) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.member == member && m.role == role)
    }

    /// The value of `role`'s setting `name`, for `database` or (`None`) for every database.
    pub fn setting(&self, role: &str, database: Option<&str>, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.role == role && s.database.as_deref() == database && s.name == name)
            .map(|s| s.value.as_str())
    }
}

/// A server parameter as the target's `pg_settings` shows it: who may set it and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// `pg_settings.context`: `user`, `superuser`, `backend`, `postmaster`, …
    pub context: String,
}

/// The target's roles and what its connection user (the migration user) is and may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRoles {
    pub roles: Roles,
    /// `server_version_num`: PostgreSQL 16 changed who may grant memberships and attributes.
    pub version_num: u32,
    /// The connection user (`target.connection.user`).
    pub user: String,
    /// `pg_has_role(user, 'azure_pg_admin', 'MEMBER')`, directly or through another role.
    pub in_azure_pg_admin: bool,
    /// The connection user holds `azure_pg_admin` with the admin option (it may grant it).
    pub admin_of_azure_pg_admin: bool,
    /// The databases on the target: a per-database role setting needs its database there.
    pub databases: Vec<String>,
    /// The target's parameters: a role setting needs its parameter there, settable by the connection user.
    pub parameters: Vec<Parameter>,
}
