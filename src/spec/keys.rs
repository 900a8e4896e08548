//! What each key of the spec means, in one line with an example, for the `hint:` of an error about it:
//! an installed migprep has no example file beside it, so the hint carries the documentation itself.

/// Every key, dotted as in the spec (the two `connection` tables share their keys), and its meaning.
const KEYS: &[(&str, &str)] = &[
    ("name", "name = \"orders\": names the state folder, the lock and the default parameter group"),
    ("ca_file", "ca_file = \"corp-ca.pem\": an extra CA bundle (PEM) for every TLS connection, relative to the spec"),
    ("source", "[source]: the Aurora cluster, with cluster, region, databases, migration_user and [source.connection]"),
    ("source.cluster", "cluster = \"orders-prod\": the Aurora DB cluster identifier"),
    ("source.region", "region = \"us-east-1\": the cluster's AWS region"),
    ("source.profile", "profile = \"prod\": an AWS profile (optional; otherwise the SDK's default credential chain)"),
    ("source.databases", "databases = [\"orders\", \"billing\"]: the databases to migrate, at least one"),
    ("source.migration_user", "migration_user = \"migrator\": the role the migration service logs in as"),
    ("target", "[target]: the flexible server, with subscription, resource_group, server and [target.connection]"),
    ("target.subscription", "subscription = \"00000000-0000-0000-0000-000000000000\": the Azure subscription id"),
    ("target.resource_group", "resource_group = \"rg-orders\": the flexible server's resource group"),
    ("target.server", "server = \"pg-orders\": the flexible server's name"),
    ("target.arm_endpoint", "arm_endpoint = \"https://management.azure.com\": optional, for sovereign clouds"),
    ("target.authority_host", "authority_host = \"https://login.microsoftonline.com\": optional, for sovereign clouds"),
    (
        "target.tenant",
        "tenant = \"00000000-0000-0000-0000-000000000000\": optional, the subscription's Entra tenant id; the az CLI \
         and azd sign in to it, and a token for another tenant is refused",
    ),
    ("connection", "[source.connection] / [target.connection]: user and password (host, port and sslmode optional)"),
    ("connection.host", "host = \"…\": optional; the cluster's writer endpoint or the server's FQDN by default"),
    ("connection.port", "port = 5432: optional; 5432 by default"),
    ("connection.user", "user = \"postgres\": the admin user to connect as"),
    (
        "connection.password",
        "password = { env = \"VAR\" } or { file = \"path\" }, or \"iam\" (source) / \"entra\" (target); never the password itself",
    ),
    (
        "connection.sslmode",
        "sslmode = \"verify-full\" (the default) or \"require\"; \"disable\" only for a loopback host",
    ),
    ("desired", "[desired]: optional overrides, wal_sender_timeout and parameter_group"),
    ("desired.wal_sender_timeout", "wal_sender_timeout = 0: milliseconds; 0, the default, never times out"),
    (
        "desired.parameter_group",
        "parameter_group = \"orders-prod-migration\": the group to create (default <cluster>-migration)",
    ),
    ("allow", "[allow]: the disruptive actions migprep may take, all false or \"no\" by default"),
    (
        "allow.reboot_source_writer",
        "reboot_source_writer = true: reboot the Aurora writer so static parameters take effect",
    ),
    ("allow.restart_target", "restart_target = true: restart the flexible server once for all static parameters"),
    (
        "allow.remove_replicas",
        "remove_replicas = \"no\" | \"promote\" | \"delete\": what to do with the target's read replicas",
    ),
    ("allow.recreate_replicas", "recreate_replicas = true: let restore re-create the replicas apply removed"),
    ("allow.resize_target", "resize_target = true: scale the target's compute up to the source writer's"),
    ("state", "[state]: where state, journal and lock live: backend = \"local\" (default), \"s3\" or \"azblob\""),
    (
        "state.backend",
        "backend = \"local\" | \"s3\" | \"azblob\": the folder beside the spec, an S3 bucket or an Azure Blob container",
    ),
    ("state.bucket", "bucket = \"migprep-state\": the S3 bucket (backend = \"s3\")"),
    ("state.region", "region = \"us-east-1\": the bucket's region (default: source.region)"),
    ("state.account", "account = \"mystorageaccount\": the Azure storage account (backend = \"azblob\")"),
    ("state.container", "container = \"migprep-state\": the blob container (backend = \"azblob\")"),
    ("state.endpoint", "endpoint = \"https://acct.blob.core.windows.net\": optional, the account's blob endpoint"),
    ("state.prefix", "prefix = \"team-a\": optional, a folder in the bucket or container for the state"),
];

/// The meaning of `key` (dotted, as in an error: `source.connection.port`, `source.databases[1]`).
pub(super) fn documentation(key: &str) -> Option<&'static str> {
    let key = key.split('[').next().unwrap_or(key);
    let key = ["source.connection", "target.connection"]
        .iter()
        .find_map(|table| key.strip_prefix(table).map(|rest| format!("connection{rest}")))
        .unwrap_or_else(|| key.to_string());
    KEYS.iter().find(|(name, _)| *name == key).map(|(_, meaning)| *meaning)
}

/// The allowed key closest to a mistyped one, if one is close enough to be what was meant.
pub(super) fn closest<'a>(typed: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (strsim::jaro_winkler(typed, candidate), *candidate))
        .filter(|(similarity, _)| *similarity > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_connections_share_their_documentation_and_typos_find_their_key() {
        assert_eq!(documentation("target.connection.port"), documentation("source.connection.port"));
        assert!(documentation("source.databases[1]").is_some_and(|d| d.starts_with("databases = ")));
        assert_eq!(documentation("nowhere"), None);
        let top = ["name", "ca_file", "source", "target", "desired", "allow"];
        assert_eq!(closest("sourse", &top), Some("source"));
        assert_eq!(closest("alow", &top), Some("allow"));
        assert_eq!(closest("zzz", &top), None);
    }
}
