//! What migprep gives a server it should not trust, end to end: the source connection pointed at a fake
//! PostgreSQL server with a self-signed certificate nobody trusts, which asks for a password and records
//! every byte it gets. The password must never reach it; the plan reports the source unreachable (N1, a
//! blocker, exit 3) with a remedy.

mod common;

use common::{migprep, set, text};
use migprep_testkit::fake_pg::{AuthRequest, FakePg, Session};
use migprep_testkit::scenario::{Output, Scenario};
use std::time::Duration;

/// Runs `plan` with the source connection at a fake server asking for `auth`; `sslmode` is the source's
/// setting, `None` for the default. Returns migprep's output, what the fake server recorded, and the
/// source password it must not have seen.
async fn plan_against_fake(auth: AuthRequest, sslmode: Option<&str>) -> (Output, Vec<Session>, String) {
    let scenario = Scenario::start().await.unwrap();
    let fake = FakePg::start(auth).await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.connection.host", "127.0.0.1");
    set(&mut spec, "source.connection.port", i64::from(fake.port()));
    let connection = spec.get_mut("source").and_then(|s| s.get_mut("connection")).and_then(|c| c.as_table_mut());
    let connection = connection.unwrap();
    match sslmode {
        Some(mode) => connection.insert("sslmode".into(), mode.into()),
        None => connection.remove("sslmode"),
    };
    let path = scenario.write_spec(&spec).unwrap();
    let run = migprep(&scenario, &["plan", text(&path)], &[]).await;
    let sessions = fake.settled(Duration::from_secs(10)).await;
    (run, sessions, scenario.source.admin().password.clone())
}

/// The source's N1 blocker in the human plan: its details (found, needs, reason) and its hint.
fn source_failure(run: &Output) -> (String, String) {
    assert_eq!(run.code, 3, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("source.pg/connection") && l.contains("[N1]"))
        .unwrap_or_else(|| panic!("no source connection blocker in:\n{}", run.stdout));
    assert!(lines[at].trim_start().starts_with('!'), "not a blocker: {}", lines[at]);
    // The details are indented under the address, up to the next change.
    let details: Vec<&str> = lines[at + 1..].iter().take_while(|l| l.starts_with("      ")).copied().collect();
    let hint = details
        .iter()
        .find(|l| l.trim_start().starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint for the source connection in:\n{}", run.stdout));
    (details.join("\n"), hint.to_string())
}

fn assert_no_password(sessions: &[Session], password: &str) {
    assert!(!sessions.is_empty(), "migprep never connected to the fake server");
    for session in sessions {
        assert!(!session.sent_password_message(), "a password message reached the fake server: {session:?}");
        assert!(!session.sent_bytes(password.as_bytes()), "the password reached the fake server: {session:?}");
    }
}

/// By default (verify-full) the fake server's certificate is refused: the TLS handshake never completes,
/// so nothing is sent after it, and the hint names ca_file.
#[tokio::test]
async fn by_default_an_untrusted_certificate_gets_nothing() {
    let (run, sessions, password) = plan_against_fake(AuthRequest::CleartextPassword, None).await;
    assert_no_password(&sessions, &password);
    for session in &sessions {
        assert!(session.ssl_requested, "{session:?}");
        assert!(!session.tls_established, "the handshake with an untrusted certificate completed: {session:?}");
        assert!(session.startup.is_none(), "{session:?}");
    }
    let (details, hint) = source_failure(&run);
    assert!(details.contains("TLS handshake") && details.contains("UnknownIssuer"), "{details}");
    assert!(hint.contains("ca_file"), "{hint}");
    assert!(hint.contains("https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"), "{hint}");
}

/// The default with a server that offers SCRAM: no exchange starts either.
#[tokio::test]
async fn by_default_no_scram_exchange_with_an_untrusted_server() {
    let (run, sessions, password) = plan_against_fake(AuthRequest::ScramSha256, None).await;
    assert_no_password(&sessions, &password);
    assert!(sessions.iter().all(|s| !s.tls_established && s.after_auth_request.is_empty()), "{sessions:?}");
    source_failure(&run);
}

/// `require` encrypts without verifying, so the handshake completes; a cleartext password request is
/// then refused before anything is sent.
#[tokio::test]
async fn require_never_answers_a_cleartext_password_request() {
    let (run, sessions, password) = plan_against_fake(AuthRequest::CleartextPassword, Some("require")).await;
    assert_no_password(&sessions, &password);
    assert!(sessions.iter().any(|s| s.tls_established && s.startup.is_some()), "{sessions:?}");
    let (details, hint) = source_failure(&run);
    assert!(details.contains("did not offer SCRAM with channel binding"), "{details}");
    assert!(hint.contains("verify-full"), "{hint}");
}

/// `require` with a server offering SCRAM-SHA-256 without channel binding (no -PLUS): the client does not
/// begin the exchange, so no SASLInitialResponse (and no proof to guess the password from) is sent.
#[tokio::test]
async fn require_never_starts_scram_without_channel_binding() {
    let (run, sessions, password) = plan_against_fake(AuthRequest::ScramSha256, Some("require")).await;
    assert_no_password(&sessions, &password);
    assert!(sessions.iter().any(|s| s.tls_established && s.startup.is_some()), "{sessions:?}");
    let (details, hint) = source_failure(&run);
    assert!(details.contains("did not offer SCRAM with channel binding"), "{details}");
    assert!(hint.contains("verify-full"), "{hint}");
}
