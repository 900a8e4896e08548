//! Logins without a password on disk: RDS IAM tokens on the source and Microsoft Entra tokens on the
//! target, checked by the gateways in front of the PostgreSQL stand-ins as the services check them, and
//! passwords read from AWS Secrets Manager (moto's). No token or secret ever shows in migprep's output.

mod common;

use common::{member_of, migprep, set, text, with_allow};
use migprep_testkit::delay::DelayProxy;
use migprep_testkit::gateway::{Attempt, Refusal};
use migprep_testkit::rds::settings_hook;
use migprep_testkit::scenario::{CLUSTER, Output, Scenario, ScenarioConfig};
use std::time::{Duration, SystemTime};

/// What a token looks like in text: a presigned RDS request, or a JWT's `{"typ":` header.
fn assert_no_token(run: &Output) {
    for text in [&run.stdout, &run.stderr] {
        for mark in ["X-Amz-Signature", "X-Amz-Credential", "Action=connect", "eyJ0eXAi"] {
            assert!(!text.contains(mark), "a token reached the output ({mark}):\n{text}");
        }
    }
}

fn refusals(attempts: &[Attempt]) -> Vec<Refusal> {
    attempts.iter().filter_map(|a| a.outcome.clone().err()).collect()
}

/// With `password = "iam"` on the source and `"entra"` on the target, `plan` reads both databases through
/// the gateways, and `apply` (reboot and restart allowed) makes every change: the reboot's hook restarts
/// the writer and declares every token made before it expired, so the connections after the reboot get
/// through only because each carries a token minted for it. Every login was accepted; the migration user
/// is in `rds_replication`; the plan is empty afterwards; no token was printed.
#[tokio::test]
async fn plan_and_apply_log_in_with_fresh_tokens_through_the_checking_gateways() {
    let scenario = Scenario::start_with(ScenarioConfig::passwordless()).await.unwrap();
    let spec = with_allow(&scenario, &[("reboot_source_writer", true.into()), ("restart_target", true.into())]);
    let source_gateway = scenario.source_gateway.clone().unwrap();
    let target_gateway = scenario.target_gateway.clone().unwrap();

    // With every library's debug log on: no token in it either.
    let plan = migprep(&scenario, &["plan", "-vvv", text(&spec)], &[]).await;
    assert_eq!(plan.code, 0, "stdout:\n{}\nstderr:\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("rds_replication"), "the source's SQL was read:\n{}", plan.stdout);
    // The header says how each database was logged in to.
    assert!(plan.stdout.contains("role postgres with an RDS IAM authentication token"), "{}", plan.stdout);
    assert!(plan.stdout.contains("role azureadmin with a Microsoft Entra token"), "{}", plan.stdout);
    assert!(!plan.stderr.contains("cannot be used"), "{}", plan.stderr);
    assert_no_token(&plan);

    let (writer, gateway) = (scenario.source.clone(), source_gateway.clone());
    let reboot_started = std::sync::Arc::new(std::sync::Mutex::new(None));
    let started = reboot_started.clone();
    scenario.rds.set_reboot_hook(
        CLUSTER,
        Some(settings_hook(move |settings| {
            let (writer, gateway, started) = (writer.clone(), gateway.clone(), started.clone());
            async move {
                // Past the second the last token before the reboot was made in, then expire them all.
                tokio::time::sleep(Duration::from_millis(1100)).await;
                let now = SystemTime::now();
                *started.lock().unwrap() = Some(now);
                gateway.expire_tokens_made_before(now);
                writer.restart_with(&settings).await
            }
        })),
    );
    let apply = migprep(&scenario, &["apply", "--auto-approve", text(&spec)], &[]).await;
    assert_eq!(apply.code, 0, "stdout:\n{}\nstderr:\n{}", apply.stdout, apply.stderr);
    assert_no_token(&apply);
    assert!(member_of(&scenario.source, &scenario.source.migration_user().user, "rds_replication").await);
    let rebooted = reboot_started.lock().unwrap().expect("the writer was rebooted");

    let after = migprep(&scenario, &["plan", "--detailed-exitcode", text(&spec)], &[]).await;
    assert_eq!(after.code, 0, "nothing left to change:\n{}\n{}", after.stdout, after.stderr);

    let source = source_gateway.attempts();
    let target = target_gateway.attempts();
    assert!(refusals(&source).is_empty() && refusals(&target).is_empty(), "{source:#?}\n{target:#?}");
    assert!(!source.is_empty() && !target.is_empty(), "{source:#?}\n{target:#?}");
    let after_reboot = source.iter().filter(|a| a.token_issued.is_some_and(|t| t + Duration::from_secs(1) > rebooted));
    assert!(after_reboot.count() > 0, "no login after the reboot {rebooted:?}: {source:#?}");
}

/// Through a tunnel — the spec dials a local port that leads to the writer — the IAM token is still
/// signed for the writer endpoint RDS reports, which is what RDS compares it with: the gateway (which
/// expects its own address) accepts every login, and the logins went through the tunnel.
#[tokio::test]
async fn an_iam_login_through_a_tunnel_carries_a_token_for_the_writer_endpoint() {
    let scenario = Scenario::start_with(ScenarioConfig::passwordless()).await.unwrap();
    let gateway = scenario.source_gateway.clone().unwrap();
    let tunnel = DelayProxy::start(gateway.port()).await.unwrap();
    let mut spec = scenario.spec();
    set(&mut spec, "source.connection.host", "127.0.0.1");
    set(&mut spec, "source.connection.port", i64::from(tunnel.port()));
    let spec = scenario.write_spec(&spec).unwrap();

    let plan = migprep(&scenario, &["plan", text(&spec)], &[]).await;
    assert!(plan.stdout.contains("rds_replication"), "the source's SQL was read:\n{}\n{}", plan.stdout, plan.stderr);
    let attempts = gateway.attempts();
    assert!(!attempts.is_empty() && refusals(&attempts).is_empty(), "{attempts:#?}");
    assert!(tunnel.connections() > 0, "the logins went through the tunnel");
    assert_no_token(&plan);
}

/// Tokens the services would refuse: signed with another AWS key (the RDS calls still work, the stand-in
/// checks no signatures there), and an Entra token the target's clock says has expired. Each database is
/// reported as refusing the token, with what to check, the gateways saw exactly those reasons, and no
/// token is printed.
#[tokio::test]
async fn a_foreign_or_expired_token_is_refused_and_never_shown() {
    let scenario = Scenario::start_with(ScenarioConfig::passwordless()).await.unwrap();
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    scenario.target_gateway.as_ref().unwrap().set_clock_ahead(Duration::from_secs(2 * 3600));

    let run = migprep(&scenario, &["plan", text(&spec)], &[("AWS_SECRET_ACCESS_KEY", "not-the-key")]).await;
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("refused an RDS IAM authentication token for user \"postgres\""), "{}", run.stderr);
    assert!(run.stderr.contains("rds_iam"), "{}", run.stderr);
    assert!(run.stderr.contains("refused a Microsoft Entra token for user \"azureadmin\""), "{}", run.stderr);
    assert!(run.stderr.contains("pgaadauth_create_principal"), "{}", run.stderr);
    assert_no_token(&run);
    assert!(!run.stderr.contains("not-the-key"), "{}", run.stderr);

    let source = refusals(&scenario.source_gateway.as_ref().unwrap().attempts());
    let target = refusals(&scenario.target_gateway.as_ref().unwrap().attempts());
    assert!(!source.is_empty() && source.iter().all(|r| *r == Refusal::Signature), "{source:?}");
    assert!(!target.is_empty() && target.iter().all(|r| *r == Refusal::Expired), "{target:?}");
}

/// `password = { aws_secret = … }` reads the source's password from moto's Secrets Manager: a JSON secret
/// as RDS writes it (by ARN), and a plain-text one (by name); the password is not in the output even with
/// every library's debug log on. A missing secret and a JSON secret without
/// the key are errors naming the spec key and the secret, with a hint, and never the value.
#[tokio::test]
async fn a_password_from_secrets_manager() {
    let scenario = Scenario::start().await.unwrap();
    let admin = scenario.source.admin().clone();
    let json = serde_json::json!({ "username": admin.user, "password": admin.password }).to_string();
    let arn = scenario.create_secret("rds!cluster-orders-prod", &json).await.unwrap();
    scenario.create_secret("orders/plain", &admin.password).await.unwrap();
    scenario.create_secret("orders/other-key", &json.replace("\"password\"", "\"pass\"")).await.unwrap();

    let scenario = &scenario;
    let plan_with = |source: toml::Value, verbosity: &'static str| {
        let mut spec = scenario.spec();
        set(&mut spec, "source.connection.password", source);
        let path = scenario.write_spec(&spec).unwrap();
        async move { migprep(scenario, &["plan", verbosity, text(&path)], &[]).await }
    };
    let secret = |id: &str| toml::Value::Table(toml::toml! { aws_secret = id });

    for id in [arn.as_str(), "orders/plain"] {
        let run = plan_with(secret(id), "-vvv").await;
        assert_eq!(run.code, 0, "{id}:\n{}\n{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("cannot be used"), "{}", run.stderr);
        assert!(!run.stdout.contains(&admin.password) && !run.stderr.contains(&admin.password));
    }

    let missing = plan_with(secret("orders/missing"), "-v").await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("source.connection.password: secret orders/missing (region us-east-1) cannot be read"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("ResourceNotFoundException") && missing.stderr.contains("hint:"),
        "{}",
        missing.stderr
    );

    let other_key = plan_with(secret("orders/other-key"), "-v").await;
    assert_eq!(other_key.code, 1, "{}", other_key.stderr);
    assert!(
        other_key.stderr.contains("has no key \"password\" (its keys: \"pass\", \"username\")"),
        "{}",
        other_key.stderr
    );
    assert!(other_key.stderr.contains("key = "), "{}", other_key.stderr);
    assert!(!other_key.stderr.contains(&admin.password), "{}", other_key.stderr);
}
