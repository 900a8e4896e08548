//! `plan` observes both clouds through the stand-ins: the Aurora cluster via the RDS API (moto behind the
//! fidelity layer) and the flexible server via ARM (the fake, over TLS, with a service principal).

mod common;

use common::{Output, migprep, set, text};
use migprep_testkit::arm::ServerSeed;
use migprep_testkit::scenario::{SERVER, Scenario, ScenarioConfig};

/// A cluster on its default group with a reader, and a zone-redundant server with a replica: the plan
/// shows what it found on each cloud, and reaches the source through the writer endpoint the RDS API
/// reports (the spec gives no source host). The replica is a blocker until the spec says what to do
/// with it, so the run ends with exit 3.
#[tokio::test]
async fn plan_shows_the_cluster_and_the_server() {
    let mut config = ScenarioConfig::default();
    config.cluster.readers = vec!["orders-prod-instance-2".into()];
    config.server = ServerSeed::new(SERVER).high_availability("ZoneRedundant", "2").replica("pg-orders-replica");
    let scenario = Scenario::start_with(config).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(code, 3, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("! azure.server/pg-orders/replica/pg-orders-replica"), "{stdout}");
    let cluster = stdout.lines().find(|l| l.contains("✓ aws.cluster/orders-prod ")).expect(&stdout);
    assert!(cluster.contains("aurora-postgresql 15.4"), "{cluster}");
    assert!(cluster.contains("default.aurora-postgresql15"), "{cluster}");
    assert!(cluster.contains("), 1 reader  ["), "{cluster}");
    let server = stdout.lines().find(|l| l.contains("✓ azure.server/pg-orders ")).expect(&stdout);
    assert!(server.contains("HA ZoneRedundant (standby zone 2)"), "{server}");
    assert!(server.contains(", 1 read replica  ["), "{server}");
    let source = stdout.lines().find(|l| l.contains("source.pg/connection")).expect(&stdout);
    assert!(source.contains(&format!("127.0.0.1:{}", scenario.source.port())), "{source}");
}

/// A cluster that does not exist and an Azure secret that is wrong: both problems are reported, each
/// on its own line with a hint, exit 1, and no secret is shown.
#[tokio::test]
async fn cloud_problems_are_reported_together() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.cluster", "no-such-cluster");
    let path = scenario.write_spec(&spec).unwrap();
    let Output { code, stdout, stderr } =
        migprep(&scenario, &["plan", text(&path)], &[("AZURE_CLIENT_SECRET", "not-the-secret")]).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no-such-cluster"), "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.lines().filter(|l| l.starts_with("error: ")).count() == 2, "{stderr}");
    assert!(stderr.lines().filter(|l| l.starts_with("hint: ")).count() == 2, "{stderr}");
    assert!(!stderr.contains("not-the-secret"), "the secret must never be shown:\n{stderr}");
}

/// A server name that does not exist in the resource group: one clear not-found line with a hint.
#[tokio::test]
async fn unknown_server_is_one_clear_error() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "target.server", "pg-nowhere");
    let path = scenario.write_spec(&spec).unwrap();
    let Output { code, stderr, .. } = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("pg-nowhere"), "{stderr}");
    assert!(lines[1].starts_with("hint: "), "{stderr}");
}

/// An RDS endpoint that accepts connections and never answers (a black hole behind a proxy): `plan`
/// gives up after the configured request timeout with an error naming the call and the cluster, exit 1,
/// instead of hanging. The guard around the run only keeps a regression from hanging the suite.
#[tokio::test]
async fn an_rds_endpoint_that_never_answers_times_out() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let env = [("AWS_ENDPOINT_URL", endpoint.as_str()), ("MIGPREP_REQUEST_TIMEOUT_SECS", "2")];
    let args = ["plan", text(&spec)];
    let run = migprep(&scenario, &args, &env);
    let Output { code, stderr, .. } =
        tokio::time::timeout(std::time::Duration::from_secs(120), run).await.expect("plan hung on a silent endpoint");
    held.abort();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("DescribeDBClusters") && stderr.contains("orders-prod"), "{stderr}");
    assert!(stderr.to_lowercase().contains("timeout") || stderr.contains("timed out"), "{stderr}");
}

/// The source's password file is missing and the target's variable is not set: `plan` says both at once,
/// naming each key, before it calls either cloud (neither stand-in sees a request).
#[tokio::test]
async fn unreadable_passwords_are_reported_before_any_cloud_call() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.connection.password", toml::Value::Table(toml::toml! { file = "secrets/missing" }));
    set(&mut spec, "target.connection.password", toml::Value::Table(toml::toml! { env = "MIGPREP_TEST_UNSET" }));
    let spec = scenario.write_spec(&spec).unwrap();
    let (arm_before, rds_before) = (scenario.arm.requests().len(), scenario.rds.requests().len());
    let Output { code, stderr, .. } = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("source.connection.password: cannot read the password file"), "{stderr}");
    assert!(
        stderr.contains("target.connection.password: environment variable MIGPREP_TEST_UNSET is not set"),
        "{stderr}"
    );
    assert_eq!(scenario.arm.requests().len(), arm_before, "no request reached ARM");
    assert_eq!(scenario.rds.requests().len(), rds_before, "no request reached RDS");
}

/// A mistyped AWS profile, in the spec or in AWS_PROFILE, is reported as such with the profiles the files
/// do define (not as the instance metadata service's failure the SDK would fall through to), before any
/// request reaches RDS.
#[tokio::test]
async fn a_missing_aws_profile_is_named_with_the_ones_that_exist() {
    let scenario = Scenario::start().await.unwrap();
    let config = scenario.dir().join("aws-config");
    std::fs::write(&config, "[profile prod]\nregion = us-east-1\n[profile staging]\nregion = us-east-1\n").unwrap();
    let config = text(&config).to_string();
    let mut spec = scenario.spec();
    set(&mut spec, "source.profile", "prdo");
    let with_profile = scenario.write_spec(&spec).unwrap();
    let rds_before = scenario.rds.requests().len();

    let run = migprep(&scenario, &["plan", text(&with_profile)], &[("AWS_CONFIG_FILE", &config)]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the AWS profile prdo (source.profile) is not in the AWS config or credentials files"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: the profiles defined are prod, staging; correct source.profile"),
        "{}",
        run.stderr
    );

    let plain = scenario.write_spec(&scenario.spec()).unwrap();
    let env = [("AWS_CONFIG_FILE", config.as_str()), ("AWS_PROFILE", "stagign")];
    let run = migprep(&scenario, &["plan", text(&plain)], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the AWS profile stagign (AWS_PROFILE) is not in"), "{}", run.stderr);
    assert_eq!(scenario.rds.requests().len(), rds_before, "no request reached RDS");
}

/// The plan's header names every endpoint and who migprep was there, in every rendering: the AWS
/// identity as STS reports it (moto's account), the Azure identity from the token's claims (the fake's
/// tenant and application), and each database's address and role.
#[tokio::test]
async fn the_header_names_every_endpoint_and_identity() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec), "--format", "json"], &[]).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let connections = plan["connections"].as_array().expect("connections").clone();
    let of = |system: &str| {
        connections.iter().find(|c| c["system"] == system).unwrap_or_else(|| panic!("no {system} in {connections:?}"))
    };
    let aws = of("aws")["identity"].as_str().unwrap().to_string();
    assert!(aws.contains("arn:aws:") && aws.contains("(account "), "{aws}");
    let azure = of("azure");
    assert!(azure["endpoint"].as_str().unwrap().starts_with("https://127.0.0.1:"), "{azure}");
    let azure = azure["identity"].as_str().unwrap();
    assert!(azure.contains(scenario.arm.client_id()) && azure.contains(scenario.arm.tenant_id()), "{azure}");
    assert!(azure.contains("object "), "{azure}");
    let source = of("source");
    assert!(
        source["endpoint"].as_str().unwrap().contains(&format!("127.0.0.1:{}", scenario.source.port())),
        "{source}"
    );
    assert!(source["identity"].as_str().unwrap().starts_with("role "), "{source}");
    let human = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert!(human.stdout.contains(&aws) && human.stdout.contains(azure), "{}", human.stdout);
}

/// Behind a proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`), RDS and ARM traffic goes through
/// it, also with `ca_file` set (the spec's default here), which gives the AWS SDK a client of migprep's
/// own making: that client must keep the proxy. The databases are dialled directly, as PostgreSQL
/// clients do.
#[tokio::test]
async fn rds_and_arm_traffic_goes_through_the_environments_proxy() {
    let scenario = Scenario::start().await.unwrap();
    let proxy = migprep_testkit::proxy::Proxy::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let url = proxy.url();
    let env = [("HTTPS_PROXY", url.as_str()), ("HTTP_PROXY", url.as_str()), ("NO_PROXY", ""), ("no_proxy", "")];
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec)], &env).await;
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let authority = |url: String| url.split("://").nth(1).unwrap().trim_end_matches('/').to_string();
    let seen = proxy.seen();
    for (what, expected) in [("RDS", authority(scenario.rds.endpoint())), ("ARM", authority(scenario.arm.endpoint()))] {
        assert!(seen.contains(&expected), "{what} at {expected} did not go through the proxy: {seen:?}");
    }
}

/// Without AWS credentials the run ends with migprep's own error and hint, not with the SDK's raw
/// `WARN … ProviderError { … }` dumps before it; `-v` and `RUST_LOG` still show the SDK's logs.
#[tokio::test]
async fn missing_aws_credentials_are_one_error_without_sdk_dumps() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let env = [("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")];
    let Output { code, stdout, stderr } = migprep(&scenario, &["plan", text(&spec)], &env).await;
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("error: ")), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("hint: ")), "{stderr}");
    assert!(!stderr.contains(" WARN ") && !stderr.contains("ProviderError"), "raw SDK logs:\n{stderr}");
}
