//! The spec file: every kind of mistake is one line naming file, line:column and key, plus a hint.

use migprep::spec::{PasswordSource, RemoveReplicas, Spec, SslMode};
use std::path::Path;

const VALID: &str = r#"
name = "orders"

[source]
cluster = "orders-prod"
region = "us-east-1"
databases = ["orders", "billing"]
migration_user = "migrator"

[source.connection]
host = "127.0.0.1"
port = 5432
user = "postgres"
password = { env = "SOURCE_PGPASSWORD" }

[target]
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg-orders"
server = "pg-orders"

[target.connection]
user = "azureadmin"
password = { file = "secrets/target" }
sslmode = "verify-full"

[allow]
remove_replicas = "promote"
"#;

fn parse(text: &str) -> Result<Spec, (String, String)> {
    Spec::parse(Path::new("plans/t.toml"), text).map_err(|e| (e.message, e.hint.unwrap_or_default()))
}

/// Replaces the first occurrence of `from` in the valid spec.
fn broken(from: &str, to: &str) -> (String, String) {
    assert!(VALID.contains(from), "test setup: {from:?} not in the spec");
    parse(&VALID.replacen(from, to, 1)).expect_err("the spec should be refused")
}

#[test]
fn a_valid_spec_gives_values_and_defaults() {
    let spec = parse(VALID).unwrap();
    assert_eq!(spec.name, "orders");
    assert_eq!(spec.source.databases, ["orders", "billing"]);
    assert_eq!(spec.source.connection.password, PasswordSource::Env("SOURCE_PGPASSWORD".into()));
    assert_eq!(spec.source.connection.sslmode, SslMode::VerifyFull, "verified TLS is the default");
    assert_eq!(spec.target.connection.password, PasswordSource::File("plans/secrets/target".into()));
    assert_eq!(spec.target.connection.sslmode, SslMode::VerifyFull);
    assert_eq!(spec.allow.remove_replicas, RemoveReplicas::Promote);
    assert!(!spec.allow.reboot_source_writer, "disruptive actions are off unless allowed");
    assert_eq!(spec.desired.parameter_group_for(&spec.source.cluster), "orders-prod-migration");
}

#[test]
fn the_shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/example.toml");
    let spec = Spec::load(&path).unwrap();
    assert_eq!(spec.source.cluster, "orders-prod");
    assert!(spec.digest.starts_with("sha256:") && spec.digest.len() == 71, "{}", spec.digest);
}

#[test]
fn unknown_key_names_file_position_and_key() {
    let (message, hint) = broken("migration_user = \"migrator\"", "migration_user = \"migrator\"\ndatabses = [\"x\"]");
    assert_eq!(message, "plans/t.toml:9:1: source.databses: unknown key");
    assert!(hint.starts_with("did you mean databases? (databases = ["), "{hint}");
}

/// A mistyped table name at the top level is caught the same way, and the hint explains the key it
/// guesses without sending the user to a file they may not have.
#[test]
fn unknown_key_suggests_the_key_meant() {
    let (message, hint) = parse(&VALID.replace("[source", "[sourse")).unwrap_err();
    assert!(message.ends_with("sourse: unknown key"), "{message}");
    assert!(hint.starts_with("did you mean source? ([source]: the Aurora cluster"), "{hint}");
    let (_, hint) = broken("remove_replicas", "remove_replica");
    assert!(hint.starts_with("did you mean remove_replicas?"), "{hint}");
    let (_, hint) = broken("remove_replicas", "zzz");
    assert!(!hint.contains("did you mean") && hint.contains("keys allowed in [allow]"), "{hint}");
}

#[test]
fn unknown_key_in_a_nested_table() {
    let (message, _) = broken("sslmode = \"verify-full\"", "sslmode = \"verify-full\"\nsslcert = \"x\"");
    assert_eq!(message, "plans/t.toml:25:1: target.connection.sslcert: unknown key");
}

#[test]
fn wrong_type_names_the_key() {
    let (message, hint) = broken("port = 5432", "port = \"5432\"");
    assert!(message.starts_with("plans/t.toml:12:8: source.connection.port: invalid type: string"), "{message}");
    assert!(hint.starts_with("port = 5432"), "the key's own documentation: {hint}");
    assert!(!hint.contains(".toml"), "no file the user may not have: {hint}");
}

#[test]
fn missing_required_key() {
    let (message, hint) = broken("region = \"us-east-1\"\n", "");
    assert!(
        message.starts_with("plans/t.toml:") && message.ends_with("source.region: required key is missing"),
        "{message}"
    );
    assert!(hint.starts_with("add region = "), "{hint}");
}

/// Region names as AWS defines them, the European Sovereign Cloud's and the isolated partitions' included.
#[test]
fn region_names() {
    let with = |region: &str| parse(&VALID.replacen("region = \"us-east-1\"", &format!("region = \"{region}\""), 1));
    for region in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1", "eusc-de-east-1"] {
        assert_eq!(with(region).unwrap().source.region, region);
    }
    for region in ["us-east", "US-EAST-1", "useast1", "europe-west-1", "us-east-1a"] {
        let (message, _) = with(region).unwrap_err();
        assert!(message.contains("source.region"), "{region}: {message}");
    }
}

#[test]
fn empty_database_list() {
    let (message, hint) = broken("databases = [\"orders\", \"billing\"]", "databases = []");
    assert_eq!(message, "plans/t.toml:7:13: source.databases: the list is empty");
    assert!(hint.contains("at least one database"), "{hint}");
}

#[test]
fn duplicate_database() {
    let (message, _) = broken("databases = [\"orders\", \"billing\"]", "databases = [\"orders\", \"orders\"]");
    assert_eq!(message, "plans/t.toml:7:24: source.databases[1]: database \"orders\" is listed twice");
}

#[test]
fn subscription_must_be_a_uuid() {
    let (message, hint) = broken("00000000-0000-0000-0000-000000000000", "my-subscription");
    assert_eq!(message, "plans/t.toml:17:16: target.subscription: \"my-subscription\" is not valid");
    assert!(hint.contains("UUID"), "{hint}");
}

#[test]
fn tenant_must_be_a_uuid() {
    let (message, hint) = broken("server = \"pg-orders\"", "server = \"pg-orders\"\ntenant = \"contoso\"");
    assert!(message.ends_with("target.tenant: \"contoso\" is not valid"), "{message}");
    assert!(hint.contains("az account show --query tenantId"), "{hint}");
}

#[test]
fn invalid_identifiers() {
    let (message, _) = broken("cluster = \"orders-prod\"", "cluster = \"orders--prod\"");
    assert_eq!(message, "plans/t.toml:5:11: source.cluster: \"orders--prod\" is not valid");
    let (message, hint) = broken("server = \"pg-orders\"", "server = \"PG_Orders\"");
    assert_eq!(message, "plans/t.toml:19:10: target.server: \"PG_Orders\" is not valid");
    assert!(hint.contains("lowercase"), "{hint}");
    let (message, _) = broken("name = \"orders\"", "name = \"../etc\"");
    assert_eq!(message, "plans/t.toml:2:8: name: \"../etc\" is not valid");
}

#[test]
fn bad_enum_value() {
    let (message, hint) = broken("remove_replicas = \"promote\"", "remove_replicas = \"yes\"");
    assert!(message.starts_with("plans/t.toml:27:19: allow.remove_replicas: unknown variant `yes`"), "{message}");
    assert!(hint.contains("\"no\" | \"promote\" | \"delete\""), "{hint}");
}

#[test]
fn plain_text_only_to_a_loopback_host() {
    let disabled = |host: &str| {
        parse(&VALID.replacen("host = \"127.0.0.1\"", &format!("host = \"{host}\""), 1).replacen(
            "port = 5432",
            "port = 5432\nsslmode = \"disable\"",
            1,
        ))
    };
    for host in ["127.0.0.1", "127.0.0.53", "localhost", "::1"] {
        assert_eq!(disabled(host).unwrap().source.connection.sslmode, SslMode::Disable, "{host}");
    }
    let (message, hint) = disabled("db.example.com").unwrap_err();
    assert_eq!(
        message,
        "plans/t.toml:13:11: source.connection.sslmode: \"disable\" sends the password in plain text; \"db.example.com\" is not a loopback address"
    );
    assert!(hint.contains("verify-full") && hint.contains("localhost"), "{hint}");
    assert_eq!(disabled("10.0.0.1").unwrap_err().0.split(": ").nth(1), Some("source.connection.sslmode"));
    // Without a host, the connection goes to what the cloud API reports: never a loopback address.
    let (message, _) = broken("sslmode = \"verify-full\"", "sslmode = \"disable\"");
    assert!(message.starts_with("plans/t.toml:24:11: target.connection.sslmode: \"disable\""), "{message}");
    assert!(message.ends_with("it needs host set to a loopback address"), "{message}");
}

#[test]
fn sslmode_values() {
    let with = |value: &str| parse(&VALID.replacen("sslmode = \"verify-full\"", value, 1));
    assert_eq!(with("sslmode = \"require\"").unwrap().target.connection.sslmode, SslMode::Require);
    assert_eq!(with("").unwrap().target.connection.sslmode, SslMode::VerifyFull);
    let (message, hint) = with("sslmode = \"prefer\"").unwrap_err();
    assert!(
        message.starts_with("plans/t.toml:24:11: target.connection.sslmode: unknown variant `prefer`"),
        "{message}"
    );
    assert!(hint.contains("\"verify-full\" (the default) or \"require\""), "{hint}");
}

#[test]
fn password_sources() {
    let with = |value: &str| parse(&VALID.replacen("{ env = \"SOURCE_PGPASSWORD\" }", value, 1));
    assert_eq!(with("\"iam\"").unwrap().source.connection.password, PasswordSource::Iam);
    let (message, hint) = with("\"entra\"").unwrap_err();
    assert_eq!(message, "plans/t.toml:14:12: source.connection.password: \"entra\" is for the Azure target");
    assert!(hint.contains("\"iam\""));
    // A literal password is refused and never echoed back.
    let (message, _) = with("\"s3cret-Passw0rd\"").unwrap_err();
    assert!(!message.contains("s3cret"), "{message}");
    assert!(message.ends_with("a password cannot be written in the spec"));
    let (message, _) = with("{ vault = \"x\" }").unwrap_err();
    assert!(message.ends_with("source.connection.password.vault: unknown key"), "{message}");
    let (message, _) = with("{ env = \"1BAD\" }").unwrap_err();
    assert!(message.contains("source.connection.password.env"), "{message}");
    // A password pasted where the variable's name belongs is not echoed either.
    let (message, hint) = with("{ env = \"hunter2!s3cret\" }").unwrap_err();
    assert!(!message.contains("s3cret") && !hint.contains("s3cret"), "{message}\n{hint}");
    assert!(message.contains("not an environment variable name"), "{message}");
}

/// A secret in AWS Secrets Manager: by ARN or name, with an optional JSON key; only on the source, and a
/// value that is not a secret's id is not echoed (it may be a password pasted in the wrong place).
#[test]
fn aws_secret_sources() {
    let with = |value: &str| parse(&VALID.replacen("{ env = \"SOURCE_PGPASSWORD\" }", value, 1));
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-5f1c-AbCdEf";
    assert_eq!(
        with(&format!("{{ aws_secret = \"{arn}\" }}")).unwrap().source.connection.password,
        PasswordSource::AwsSecret { id: arn.into(), key: None }
    );
    assert_eq!(
        with("{ aws_secret = \"prod/orders/master\", key = \"pw\" }").unwrap().source.connection.password,
        PasswordSource::AwsSecret { id: "prod/orders/master".into(), key: Some("pw".into()) }
    );
    let (message, hint) = with("{ aws_secret = \"hunter2 s3cret!\" }").unwrap_err();
    assert!(message.contains("source.connection.password.aws_secret"), "{message}");
    assert!(!message.contains("s3cret") && !hint.contains("s3cret"), "{message}\n{hint}");
    assert!(hint.contains("arn:aws:secretsmanager:"), "{hint}");
    let (message, _) = with("{ aws_secret = \"x\", region = \"us-east-1\" }").unwrap_err();
    assert!(message.ends_with("source.connection.password.region: unknown key"), "{message}");
    let (message, _) = with("{ aws_secret = \"x\", key = \"\" }").unwrap_err();
    assert!(message.contains("source.connection.password.key: must be a non-empty string"), "{message}");
    let target = VALID.replacen("{ file = \"secrets/target\" }", "{ aws_secret = \"x\" }", 1);
    let (message, _) = parse(&target).unwrap_err();
    assert!(message.ends_with("\"aws_secret\" is for the Aurora source"), "{message}");
}

/// A token is a password that stays valid for minutes: it goes only to a server whose certificate verifies.
#[test]
fn token_logins_need_verify_full() {
    let with = |source: &str| parse(&VALID.replacen("{ env = \"SOURCE_PGPASSWORD\" }", source, 1));
    assert!(with("\"iam\"\nsslmode = \"verify-full\"").is_ok());
    let (message, hint) = with("\"iam\"\nsslmode = \"require\"").unwrap_err();
    assert!(message.contains("source.connection.sslmode: a token login needs sslmode = \"verify-full\""), "{message}");
    assert!(hint.contains("ca_file"), "{hint}");
    let entra = VALID.replacen(
        "{ file = \"secrets/target\" }\nsslmode = \"verify-full\"",
        "\"entra\"\nsslmode = \"require\"",
        1,
    );
    let (message, _) = parse(&entra).unwrap_err();
    assert!(message.contains("target.connection.sslmode: a token login needs"), "{message}");
    // A password from Secrets Manager is an ordinary password: `require` stays possible (with channel binding).
    assert!(with("{ aws_secret = \"x\" }\nsslmode = \"require\"").is_ok());
}

#[test]
fn syntax_error_has_a_position() {
    let (message, hint) = parse("name = \"orders\n").unwrap_err();
    assert!(message.starts_with("plans/t.toml:1:"), "{message}");
    assert!(hint.contains("syntax"), "{hint}");
}

#[test]
fn missing_env_password_names_the_variable() {
    let spec = parse(&VALID.replacen("SOURCE_PGPASSWORD", "MIGPREP_TEST_UNSET_VARIABLE", 1)).unwrap();
    let error = spec.source.connection.password.resolve("source.connection.password").unwrap_err();
    assert_eq!(
        error.message,
        "source.connection.password: environment variable MIGPREP_TEST_UNSET_VARIABLE is not set"
    );
}

/// A megabyte where a name belongs is refused with a short error: the value is cut, not echoed in full.
#[test]
fn a_long_invalid_value_is_not_echoed_in_full() {
    let long = "x".repeat(1_000_000);
    let text = VALID.replacen("migration_user = \"migrator\"", &format!("migration_user = \"{long}\""), 1);
    let (message, _) = parse(&text).unwrap_err();
    assert!(
        message.contains("source.migration_user") && message.contains("(1000000 characters)"),
        "{}",
        message.chars().take(200).collect::<String>()
    );
    assert!(message.len() < 400, "{} bytes", message.len());
}

/// The spec must be a small regular file: a FIFO (which would block) or a device (which may never end) is
/// refused at once, naming the path.
#[test]
fn the_spec_must_be_a_small_regular_file() {
    let error = Spec::load(Path::new("/dev/zero")).unwrap_err();
    assert!(error.message.contains("/dev/zero is not a regular file"), "{}", error.message);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("migprep.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let error = Spec::load(&fifo).unwrap_err();
    assert!(error.message.contains("is not a regular file"), "{}", error.message);
}
