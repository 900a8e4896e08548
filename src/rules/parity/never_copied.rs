//! The server parameters T6 never copies from the source to the target, whatever their value, grouped by
//! the reason. Pure.
//!
//! They fall in four groups: what the instance size decides (each service derives it from its own compute
//! and memory, and T9 compares the sizes instead), what each service manages itself (WAL, replication,
//! durability, TLS, authentication, listening, files, logging destinations and format), what another rule
//! owns (S3–S6 the replication settings, T5 the preload libraries), and what describes the host or a
//! single connection rather than a choice (locale names, the stack limit, `application_name`).
//!
//! Left copyable on purpose, because applications depend on them and both services let users set them:
//! `work_mem`, `temp_buffers`, `max_locks_per_transaction`, `max_prepared_transactions` (a two-phase
//! application fails without it), the parallel-query per-gather and maintenance worker limits,
//! checkpoint and autovacuum tuning other than the worker count, logging levels and thresholds.

/// Parameters never copied, by exact (lower-case) name.
const NAMES: &[&str] = &[
    // Instance sizing: RDS computes these from the instance class (`{DBInstanceClassMemory…}`,
    // `$DBInstanceVCPU`), Azure from the SKU.
    "shared_buffers",
    "effective_cache_size",
    "maintenance_work_mem",
    "max_connections",
    "autovacuum_max_workers",
    "max_worker_processes",
    "max_parallel_workers",
    "huge_pages",
    "huge_page_size",
    "shared_memory_type",
    "dynamic_shared_memory_type",
    "min_dynamic_shared_memory",
    // Connection slots the service keeps for its own administrators.
    "superuser_reserved_connections",
    "reserved_connections",
    // WAL, replication and durability: the storage layers differ (Aurora's is not PostgreSQL's WAL), and
    // S3–S6 and the migration service set what replication needs.
    "max_wal_size",
    "min_wal_size",
    "fsync",
    "full_page_writes",
    "synchronous_commit",
    "synchronous_standby_names",
    "max_replication_slots",
    "max_wal_senders",
    "max_logical_replication_workers",
    "max_sync_workers_per_subscription",
    "max_slot_wal_keep_size",
    "restore_command",
    "promote_trigger_file",
    // TLS and authentication: each service's certificates, ciphers and password methods.
    "password_encryption",
    "require_secure_transport",
    // Where the server listens and keeps its files.
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_group",
    "unix_socket_permissions",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
    "dynamic_library_path",
    "stats_temp_directory",
    "cluster_name",
    // Logging destinations and format: each service collects and parses its own logs.
    "log_destination",
    "log_directory",
    "log_filename",
    "log_file_mode",
    "logging_collector",
    "log_truncate_on_rotation",
    "log_line_prefix",
    "log_timezone",
    "event_source",
    // Preloading: T5 derives the target's libraries from the extensions in use.
    "shared_preload_libraries",
    "session_preload_libraries",
    "local_preload_libraries",
    // The host's, not a choice: initdb writes the machine's locale names (a name one host has may not
    // exist on the other), and the stack limit follows the process's rlimit.
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "max_stack_depth",
    // One connection's, not the server's: each client names itself.
    "application_name",
];

/// Parameters never copied, by prefix of the (lower-case) name.
const PREFIXES: &[&str] = &[
    // Aurora and RDS only.
    "rds.",
    "aurora",
    "apg_",
    // WAL and standby settings (`wal_level`, `wal_sender_timeout`, `wal_buffers`, …).
    "wal_",
    "archive_",
    "hot_standby",
    "max_standby_",
    "primary_",
    "recovery_",
    // TLS and authentication: each service's certificates, ciphers and Kerberos set-up.
    "ssl",
    "krb_",
    // Log files and their shipping.
    "log_rotation_",
    "syslog_",
    // Service discovery on the host's network.
    "bonjour",
];

/// Whether T6 never copies `name` (in any letter case).
pub(super) fn never_copied(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    NAMES.contains(&name.as_str()) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_service_managed_and_session_parameters_are_never_copied() {
        let never = [
            "shared_buffers",
            "effective_cache_size",
            "maintenance_work_mem",
            "max_connections",
            "autovacuum_max_workers",
            "huge_pages",
            "rds.logical_replication",
            "rds.force_ssl",
            "aurora_compute_plan_id",
            "apg_plan_mgmt.capture_plan_baselines",
            "wal_sender_timeout",
            "wal_level",
            "max_wal_senders",
            "ssl_ciphers",
            "log_destination",
            "log_rotation_age",
            "shared_preload_libraries",
            "data_directory",
            "port",
            "lc_monetary",
            "application_name",
            "Application_Name",
        ];
        for name in never {
            assert!(never_copied(name), "{name}");
        }
        let copied = [
            "work_mem",
            "TimeZone",
            "statement_timeout",
            "autovacuum_analyze_scale_factor",
            "checkpoint_completion_target",
            "log_min_duration_statement",
            "max_prepared_transactions",
            "search_path",
        ];
        for name in copied {
            assert!(!never_copied(name), "{name}");
        }
    }
}
