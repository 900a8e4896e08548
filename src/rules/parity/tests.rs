use super::*;
use crate::model::cluster::ApplyType;
use crate::rules::fixtures;

/// A target parameter as the Azure catalog describes it, with its current value.
fn target(name: &str, value: &str, data_type: &str, allowed: &str, unit: Option<&str>) -> Configuration {
    Configuration {
        data_type: Some(data_type.into()),
        allowed_values: Some(allowed.into()),
        unit: unit.map(Into::into),
        ..fixtures::configuration(name, value, true, false)
    }
}

/// The target parameters the tests compare against (values as a fresh server has them).
fn catalog() -> Configurations {
    fixtures::configurations(&[
        target("work_mem", "4096", "Integer", "4096-2097151", Some("KB")),
        target("statement_timeout", "0", "Integer", "0-2147483647", Some("milliseconds")),
        target("TimeZone", "UTC", "String", "[A-Za-z0-9/+_-]+", None),
        target("autovacuum_analyze_scale_factor", "0.1", "Numeric", "0-100", None),
        target("checkpoint_completion_target", "0.9", "Numeric", "0-1", None),
        target("cpu_tuple_cost", "0.01", "Numeric", "0-1.79769e+308", None),
        target("jit", "on", "Boolean", "on,off", None),
        target("plan_cache_mode", "auto", "Enumeration", "auto,force_generic_plan,force_custom_plan", None),
        target("application_name", "", "String", "[A-Za-z0-9._-]*", None),
        target("shared_buffers", "524288", "Integer", "16-1073741823", Some("8KB")),
        target("max_connections", "1718", "Integer", "25-5000", None),
        Configuration {
            is_read_only: true,
            ..target("lock_timeout", "0", "Integer", "0-2147483647", Some("milliseconds"))
        },
    ])
}

/// A `pg_settings` row.
fn setting(name: &str, value: &str, source: &str, boot: &str, vartype: &str, unit: Option<&str>) -> Setting {
    Setting {
        name: name.into(),
        setting: value.into(),
        unit: unit.map(Into::into),
        vartype: vartype.into(),
        source: source.into(),
        boot_value: Some(boot.into()),
    }
}

fn settings(rows: Vec<Setting>) -> BTreeMap<String, Setting> {
    rows.into_iter().map(|s| (s.name.to_ascii_lowercase(), s)).collect()
}

/// A `Source=user` parameter of the cluster group.
fn user_value(name: &str, value: &str) -> Parameter {
    Parameter {
        name: name.into(),
        value: Some(value.into()),
        source: Some("user".into()),
        apply_type: ApplyType::Dynamic,
        data_type: None,
        allowed_values: None,
        is_modifiable: true,
    }
}

fn findings(group: &[Parameter], rows: Vec<Setting>) -> Findings {
    let settings = settings(rows);
    compare("orders-prod", "pg-orders", &wanted(group, Some(&settings)), &catalog())
}

/// The planned T6 changes as (parameter, before, after, pending).
fn changes(findings: &Findings) -> Vec<(String, String, String, Option<String>)> {
    findings
        .changes
        .iter()
        .map(|c| {
            let name = c.address.to_string().rsplit('/').next().unwrap().to_string();
            (name, c.before.clone().unwrap_or_default(), c.after.clone().unwrap_or_default(), c.pending.clone())
        })
        .collect()
}

fn names(wanted: &[Wanted]) -> Vec<String> {
    wanted.iter().map(|w| format!("{}={}", w.name, w.value)).collect()
}

#[test]
fn only_the_servers_own_non_default_values_are_wanted() {
    let rows = vec![
        // The server's own configuration: wanted.
        setting("TimeZone", "Europe/Berlin", "configuration file", "GMT", "string", None),
        setting("work_mem", "8192", "configuration file", "4096", "integer", Some("kB")),
        setting("statement_timeout", "30000", "command line", "0", "integer", Some("ms")),
        // PostgreSQL's default, written into the configuration file or not at all.
        setting("DateStyle", "ISO, MDY", "configuration file", "ISO, MDY", "string", None),
        setting("jit", "on", "default", "on", "bool", None),
        // The tool's own session and per-database / per-role settings.
        setting("application_name", "migprep", "client", "", "string", None),
        setting("client_encoding", "UTF8", "client", "SQL_ASCII", "string", None),
        setting("search_path", "app", "session", "\"$user\", public", "string", None),
        setting("lock_timeout", "5000", "database", "0", "integer", Some("ms")),
        setting("idle_session_timeout", "1000", "user", "0", "integer", Some("ms")),
        setting("cpu_tuple_cost", "0.02", "database user", "0.01", "real", None),
        setting("geqo", "off", "interactive", "on", "bool", None),
        // Derived by the server or from its environment.
        setting("transaction_isolation", "read committed", "override", "read committed", "string", None),
        setting("wal_buffers", "512", "override", "-1", "integer", Some("8kB")),
        setting("max_stack_depth", "7680", "environment variable", "100", "integer", Some("kB")),
    ];
    let settings = settings(rows);
    assert_eq!(
        names(&wanted(&[], Some(&settings))),
        ["statement_timeout=30000", "TimeZone=Europe/Berlin", "work_mem=8192"]
    );
}

#[test]
fn the_groups_values_come_first_and_formulas_run_as_the_writer_runs_them() {
    let rows = vec![
        setting("work_mem", "16384", "configuration file", "4096", "integer", Some("kB")),
        setting("random_page_cost", "1.1", "configuration file", "4", "real", None),
        setting("temp_buffers", "2048", "configuration file", "1024", "integer", Some("8kB")),
        setting("effective_io_concurrency", "1", "session", "1", "integer", None),
    ];
    let group = [
        user_value("work_mem", "8MB"),
        user_value("temp_buffers", "{DBInstanceClassMemory/65536}"),
        // A formula whose running value the session hides: nothing to compare with.
        user_value("effective_io_concurrency", "GREATEST({DBInstanceVCPU},2)"),
        Parameter { value: None, ..user_value("default_statistics_target", "") },
    ];
    let settings = settings(rows);
    let wanted = wanted(&group, Some(&settings));
    assert_eq!(names(&wanted), ["random_page_cost=1.1", "temp_buffers=2048", "work_mem=8MB"]);
    assert_eq!(wanted[2].origin, Origin::Group);
    assert_eq!(wanted[2].source_type, SourceType { unit: Some("kB"), vartype: Some("integer") });
    assert_eq!(wanted[0].origin, Origin::Running);
    // Without pg_settings, only the group's literal values.
    assert_eq!(names(&super::wanted(&group, None)), ["work_mem=8MB"]);
}

#[test]
fn sizing_and_service_managed_parameters_are_not_copied() {
    let rows = vec![
        setting("shared_buffers", "1048576", "configuration file", "1024", "integer", Some("8kB")),
        setting("max_connections", "5000", "configuration file", "100", "integer", None),
        setting("rds.logical_replication", "on", "configuration file", "off", "bool", None),
        setting("wal_sender_timeout", "0", "configuration file", "60000", "integer", Some("ms")),
        setting("ssl_ciphers", "HIGH", "configuration file", "HIGH:MEDIUM", "string", None),
        setting("log_line_prefix", "%t:%r:%u@%d:[%p]:", "configuration file", "%m [%p] ", "string", None),
        setting("lc_monetary", "C.UTF-8", "configuration file", "C", "string", None),
    ];
    let group = [user_value("application_name", "reporting"), user_value("maintenance_work_mem", "1GB")];
    let found = findings(&group, rows);
    assert_eq!(found, Findings::default());
}

#[test]
fn equal_values_in_other_spellings_and_units_match() {
    let rows = vec![
        setting("work_mem", "4096", "configuration file", "1024", "integer", Some("kB")),
        setting("autovacuum_analyze_scale_factor", "0.10", "configuration file", "0.2", "real", None),
        setting("checkpoint_completion_target", "9e-1", "configuration file", "0.5", "real", None),
        setting("jit", "off", "configuration file", "on", "bool", None),
    ];
    let group = [user_value("jit", "1"), user_value("plan_cache_mode", "AUTO"), user_value("timezone", "utc")];
    let found = findings(&group, rows);
    assert_eq!(changes(&found), []);
    assert_eq!(found.checks.len(), 1);
    assert_eq!(
        found.checks[0].summary,
        "match the source: TimeZone, autovacuum_analyze_scale_factor, checkpoint_completion_target, jit, \
         plan_cache_mode, work_mem"
    );
}

#[test]
fn different_values_are_set_in_the_targets_unit() {
    let rows = vec![
        setting("autovacuum_analyze_scale_factor", "0.05", "configuration file", "0.1", "real", None),
        setting("cpu_tuple_cost", "0.03", "configuration file", "0.01", "real", None),
        setting("statement_timeout", "30000", "configuration file", "0", "integer", Some("ms")),
        setting("TimeZone", "Europe/Berlin", "configuration file", "GMT", "string", None),
        setting("work_mem", "16384", "configuration file", "4096", "integer", Some("kB")),
    ];
    let group =
        [user_value("work_mem", "8MB"), user_value("jit", "0"), user_value("plan_cache_mode", "Force_Generic_Plan")];
    let found = findings(&group, rows);
    let none = None;
    assert_eq!(
        changes(&found),
        [
            ("autovacuum_analyze_scale_factor".into(), "0.1".into(), "0.05".into(), none.clone()),
            ("cpu_tuple_cost".into(), "0.01".into(), "0.03".into(), none.clone()),
            ("jit".into(), "on".into(), "off".into(), none.clone()),
            ("plan_cache_mode".into(), "auto".into(), "force_generic_plan".into(), none.clone()),
            ("statement_timeout".into(), "0".into(), "30000".into(), none.clone()),
            ("TimeZone".into(), "UTC".into(), "Europe/Berlin".into(), none.clone()),
            ("work_mem".into(), "4096".into(), "8192".into(), none),
        ]
    );
    for change in &found.changes {
        assert_eq!(change.rule, RuleId::T6);
        let Some(Operation::Target(TargetOp::SetConfiguration { value, .. })) = &change.operation else {
            panic!("{change:?}");
        };
        assert_eq!(Some(value), change.after.as_ref());
    }
    let work_mem = found.changes.iter().find(|c| c.after.as_deref() == Some("8192")).unwrap();
    assert!(
        work_mem.reason.starts_with("work_mem = 8MB in the source's cluster parameter group"),
        "{}",
        work_mem.reason
    );
    let zone = &found.changes[5];
    assert!(
        zone.reason.starts_with("TimeZone = Europe/Berlin in the source's running configuration"),
        "{}",
        zone.reason
    );
}

#[test]
fn values_the_target_cannot_take_are_pending_with_the_reason() {
    let rows = vec![
        setting("autovacuum_analyze_scale_factor", "150", "configuration file", "0.1", "real", None),
        setting("lock_timeout", "5000", "configuration file", "0", "integer", Some("ms")),
    ];
    let group = [
        user_value("work_mem", "1024"),
        user_value("TimeZone", "Europe Berlin"),
        user_value("plan_cache_mode", "never"),
        user_value("statement_timeout", "1500us"),
    ];
    let found = findings(&group, rows);
    let pending: Vec<(String, String)> =
        changes(&found).into_iter().map(|(name, _, _, pending)| (name, pending.unwrap_or_default())).collect();
    let expect = [
        ("autovacuum_analyze_scale_factor", "150 is outside the target's allowed values (0-100)"),
        ("lock_timeout", "read-only on the target"),
        ("plan_cache_mode", "never is outside the target's allowed values"),
        ("statement_timeout", "1500us is not a whole number of the target's unit (milliseconds)"),
        ("TimeZone", "outside the target's allowed values ([A-Za-z0-9/+_-]+)"),
        ("work_mem", "1024 is outside the target's allowed values (4096-2097151)"),
    ];
    assert_eq!(pending.len(), expect.len(), "{pending:#?}");
    for ((name, why), (expected_name, expected_why)) in pending.iter().zip(expect) {
        assert_eq!(name, expected_name);
        assert!(why.contains(expected_why), "{name}: {why}");
    }
    assert!(found.changes.iter().all(|c| c.operation.is_none() && c.remedy.is_some()));
}

#[test]
fn parameters_the_target_lacks_are_one_warning() {
    let rows = vec![
        setting("pg_hint_plan.enable_hint", "on", "configuration file", "off", "bool", None),
        setting("idle_session_timeout", "60000", "configuration file", "0", "integer", Some("ms")),
    ];
    let group = [user_value("zz_custom.flag", "1"), user_value("Aa_custom.level", "3")];
    let found = findings(&group, rows);
    assert!(found.changes.is_empty(), "{:#?}", found.changes);
    assert_eq!(found.warnings.len(), 1);
    let warning = &found.warnings[0];
    assert_eq!((warning.rule, warning.address.to_string()), (RuleId::T6, "azure.server/pg-orders/parameters".into()));
    assert!(
        warning.summary.ends_with(
            ": Aa_custom.level = 3, idle_session_timeout = 60000, pg_hint_plan.enable_hint = on, zz_custom.flag = 1"
        ),
        "{}",
        warning.summary
    );
}

#[test]
fn the_tools_own_session_is_never_proposed() {
    let rows = vec![setting("application_name", "migprep", "client", "", "string", None)];
    let found = findings(&[], rows);
    assert_eq!(found, Findings::default());
}
