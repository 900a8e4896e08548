//! N1 reachability, end to end: the real binary against real PostgreSQL stand-ins over TLS.

mod common;

use common::{migprep, set, text};
use migprep::clients::postgres::{self, ConnectError, Endpoint, Side};
use migprep::secret::Secret;
use migprep::spec::SslMode;
use migprep::tls::Trust;
use migprep_testkit::scenario::Scenario;

/// Both stand-ins up, the spec trusts their CA with verify-full: both endpoints are reported reachable
/// with their version and TLS on, nothing to change, exit 0.
#[tokio::test]
async fn both_databases_reachable_over_tls() {
    let scenario = Scenario::start().await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let run = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    for (side, server) in [("source", &scenario.source), ("target", &scenario.target)] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(&format!("{side}.pg/connection")))
            .unwrap_or_else(|| panic!("no {side} line in:\n{}", run.stdout));
        assert!(line.contains(&format!("127.0.0.1:{}", server.port())), "{line}");
        assert!(line.contains("PostgreSQL 15."), "{line}");
        assert!(line.contains("TLS on (TLSv1.3)"), "{line}");
    }
}

/// A wrong password on the source and a closed port on the target: both failures are reported (not
/// just the first), each with its own remedy, and the run ends with exit 3 (blockers).
#[tokio::test]
async fn every_failure_is_reported_with_its_cause() {
    let scenario = Scenario::start().await.unwrap();
    std::fs::write(scenario.dir().join("secrets/source-password"), "wrong\n").unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut spec = scenario.spec();
    set(&mut spec, "target.connection.port", i64::from(closed));
    let path = scenario.write_spec(&spec).unwrap();
    let run = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(run.code, 3, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("password authentication failed for user \"{}\"", scenario.source.admin().user)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("connection refused at 127.0.0.1:{closed}")), "{}", run.stdout);
    assert!(!run.stdout.contains("wrong"), "the password must never be shown");
    // A log that holds only stderr still says which database failed, why, and what to do.
    let source_line = run
        .stderr
        .lines()
        .position(|l| l.contains("error: the source database") && l.contains("password authentication failed"));
    let target_line =
        run.stderr.lines().position(|l| l.contains(&format!("error: the target database 127.0.0.1:{closed}")));
    let lines: Vec<&str> = run.stderr.lines().collect();
    for found in [source_line, target_line] {
        let at = found.unwrap_or_else(|| panic!("no stderr line for each database:\n{}", run.stderr));
        assert!(lines.get(at + 1).is_some_and(|next| next.starts_with("hint: ")), "{}", run.stderr);
    }
    assert!(!run.stderr.contains("wrong"), "the password must never be shown");
}

/// The spec asks for plain text to a loopback host (the only kind allowed), but the server accepts TLS
/// only: the error says so and how to fix it.
#[tokio::test]
async fn plain_text_to_a_server_that_requires_tls() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.connection.host", "127.0.0.1");
    set(&mut spec, "source.connection.port", i64::from(scenario.source.port()));
    set(&mut spec, "source.connection.sslmode", "disable");
    let path = scenario.write_spec(&spec).unwrap();
    let run = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(run.code, 3, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("the server refused a plain-text connection (it requires TLS)"), "{}", run.stdout);
    assert!(run.stdout.contains("\"verify-full\" (the default)"), "{}", run.stdout);
    assert!(run.stdout.contains("target.pg/connection"), "the target is still checked:\n{}", run.stdout);
}

/// Without the stand-ins' CA every TLS connection is refused, the HTTPS ones to Azure first: the error
/// names the certificate problem and points at ca_file.
#[tokio::test]
async fn without_the_ca_nothing_is_trusted() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    spec.remove("ca_file");
    let path = scenario.write_spec(&spec).unwrap();
    let run = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("UnknownIssuer"), "{}", run.stderr);
    assert!(run.stderr.lines().last().unwrap().contains("ca_file"), "{}", run.stderr);
}

/// verify-full checks the chain against the extra CA: without it the handshake fails with a remedy
/// naming ca_file; `require` encrypts without verifying and connects.
#[tokio::test]
async fn verify_full_needs_the_ca_and_require_does_not() {
    let scenario = Scenario::start().await.unwrap();
    let endpoint = |sslmode| Endpoint {
        side: Side::Source,
        host: "127.0.0.1".into(),
        port: scenario.source.port(),
        user: scenario.source.admin().user.clone(),
        database: "orders".into(),
        password: Secret::new(scenario.source.admin().password.clone()).into(),
        sslmode,
    };
    let platform_only = Trust::load(None).unwrap();
    let error =
        postgres::probe(&endpoint(SslMode::VerifyFull), &platform_only, postgres::CONNECT_TIMEOUT).await.unwrap_err();
    assert!(matches!(error, ConnectError::Tls { .. }), "{error:?}");
    assert!(error.hint(Side::Source).contains("ca_file"));
    let reached =
        postgres::probe(&endpoint(SslMode::Require), &platform_only, postgres::CONNECT_TIMEOUT).await.unwrap();
    assert_eq!(reached.tls.as_deref(), Some("TLSv1.3"));

    let with_ca = Trust::load(Some(&scenario.dir().join("ca.pem"))).unwrap();
    let reached = postgres::probe(&endpoint(SslMode::VerifyFull), &with_ca, postgres::CONNECT_TIMEOUT).await.unwrap();
    assert!(reached.server_version_num >= 150000);
}

/// A spec with a mistake changes nothing and says where the mistake is, on stderr, exit 1.
#[tokio::test]
async fn a_bad_spec_is_one_error_with_a_hint() {
    let scenario = Scenario::start().await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.databases", toml::Value::Array(vec![]));
    let path = scenario.write_spec(&spec).unwrap();
    let run = migprep(&scenario, &["plan", text(&path)], &[]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: ") && lines[0].ends_with("source.databases: the list is empty"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("hint: "), "{}", lines[1]);
}
