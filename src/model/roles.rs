//! Roles and memberships on both databases, and what the target's connection user may do (T7, T8).
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
}

/// A direct membership: `member` was granted `role`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Membership {
    pub role: String,
    pub member: String,
    pub admin_option: bool,
}

/// The roles of one database server, sorted by name, and its direct memberships.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    pub roles: Vec<Role>,
    pub memberships: Vec<Membership>,
}

impl Roles {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Whether `member` was granted `role` directly.
    pub fn is_member(&self, member: &str, role: &str) -> bool {
        self.memberships.iter().any(|m| m.member == member && m.role == role)
    }
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
}
