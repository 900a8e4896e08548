//! The Azure provider against the fake ARM over HTTPS (its own CA, loaded through `Trust` as a
//! `ca_file` would be): tokens from the fake Entra ID, reads with paging, long-running writes followed
//! to their end, 409/429/5xx waited out, failed operations, and the errors a user sees.

use std::sync::Arc;
use std::time::Duration;

use migprep::clients::arm::{Arm, AzureError, Backoff, Credential, Settings};
use migprep::model::server::{HaState, ReplicationRole, ServerId, ServerState};
use migprep::secret::Secret;
use migprep::tls::Trust;
use migprep_testkit::arm::{FakeArm, FakeArmConfig, ServerSeed};
use migprep_testkit::tls::CertAuthority;

const SUBSCRIPTION: &str = "c0ffee00-1111-4222-8333-444455556666";
const RESOURCE_GROUP: &str = "rg-orders";
const SERVER: &str = "pg-orders";

/// A running fake, the CA file it needs, and the server the tests use.
struct Harness {
    arm: FakeArm,
    trust: Trust,
    _dir: tempfile::TempDir,
}

async fn harness(seed: ServerSeed) -> Harness {
    let ca = Arc::new(CertAuthority::generate().expect("a CA"));
    let arm = FakeArm::start(FakeArmConfig { certificate_authority: Some(ca.clone()), ..FakeArmConfig::default() })
        .await
        .expect("the fake ARM starts");
    arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, seed).expect("seeding the server");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, arm.ca_pem()).unwrap();
    let trust = Trust::load(Some(&path)).expect("the CA loads");
    Harness { arm, trust, _dir: dir }
}

impl Harness {
    fn settings(&self, secret: &str) -> Settings {
        Settings {
            arm_endpoint: Some(self.arm.endpoint()),
            authority_host: Some(self.arm.authority_host()),
            credential: Credential::ServicePrincipal {
                tenant_id: self.arm.tenant_id().into(),
                client_id: self.arm.client_id().into(),
                client_secret: Secret::new(secret),
            },
            backoff: Backoff {
                max_attempts: 6,
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
            },
            allow_custom_endpoints: true,
            ..Settings::default()
        }
    }

    fn client(&self) -> Arm {
        Arm::connect(&self.settings(self.arm.client_secret()), &self.trust).expect("client")
    }

    fn server(&self) -> ServerId {
        ServerId::new(SUBSCRIPTION, RESOURCE_GROUP, SERVER)
    }

    fn statuses(&self) -> Vec<u16> {
        self.arm.requests().iter().map(|r| r.status).collect()
    }
}

/// A service principal gets a token from the fake's authority host over TLS trusted through the CA
/// file; the second use comes from the cache.
#[tokio::test]
async fn gets_a_token_with_a_client_secret() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let arm = h.client();
    arm.check_credentials().await.expect("a token");
    arm.server(&h.server()).await.expect("the token is accepted");
    assert_eq!(h.arm.count_requests("POST", "/oauth2/v2.0/token"), 1);

    // Without the CA the same endpoint is not trusted.
    let untrusted = Arm::connect(&h.settings(h.arm.client_secret()), &Trust::load(None).unwrap()).unwrap();
    let error = untrusted.check_credentials().await.unwrap_err();
    assert!(matches!(error, AzureError::TokenUnreachable { .. }), "{error:?}");
    assert!(error.hint().unwrap().contains("ca_file"));
}

/// An HA server with a replica and a user-set parameter: everything reads back, the 415 parameters
/// across five pages of `nextLink`s.
#[tokio::test]
async fn reads_server_replicas_and_all_configuration_pages() {
    let h = harness(
        ServerSeed::new(SERVER)
            .high_availability("ZoneRedundant", "2")
            .replica("pg-orders-r1")
            .configuration("azure.extensions", "hstore,pg_trgm"),
    )
    .await;
    let arm = h.client();
    let server = arm.server(&h.server()).await.unwrap();
    assert_eq!(server.name, SERVER);
    assert_eq!(server.location, "eastus");
    assert_eq!(server.state, ServerState::Ready);
    assert_eq!(server.version, "16");
    assert_eq!(server.sku.name, "Standard_D4ds_v5");
    assert_eq!(server.sku.tier, "GeneralPurpose");
    assert_eq!(server.storage_size_gb, Some(128));
    assert_eq!(server.high_availability.mode, "ZoneRedundant");
    assert_eq!(server.high_availability.state, Some(HaState::Healthy));
    assert_eq!(server.high_availability.standby_zone.as_deref(), Some("2"));
    assert!(server.high_availability.is_enabled());
    assert_eq!(server.network.public_network_access.as_deref(), Some("Enabled"));
    assert_eq!(server.fqdn.as_deref(), Some("pg-orders.postgres.database.azure.com"));
    assert_eq!(server.availability_zone.as_deref(), Some("1"));

    let replicas = arm.replicas(&h.server()).await.unwrap();
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0].name, "pg-orders-r1");
    assert_eq!(replicas[0].role, ReplicationRole::AsyncReplica);
    assert_eq!(replicas[0].resource_group.as_deref(), Some(RESOURCE_GROUP));
    assert_eq!(arm.replica_id(&h.server(), &replicas[0]), ServerId::new(SUBSCRIPTION, RESOURCE_GROUP, "pg-orders-r1"));

    h.arm.clear_requests();
    let all = arm.configurations(&h.server()).await.unwrap();
    assert!(all.len() > 400, "{} configurations", all.len());
    assert_eq!(h.arm.count_requests("GET", "/configurations"), all.len().div_ceil(100));
    let extensions = all.iter().find(|c| c.name == "azure.extensions").unwrap();
    assert_eq!(extensions.value.as_deref(), Some("hstore,pg_trgm"));
    assert_eq!(extensions.source.as_deref(), Some("user-override"));
    assert_eq!(extensions.data_type.as_deref(), Some("Set"));

    let preload = arm.configuration(&h.server(), "shared_preload_libraries").await.unwrap();
    assert!(!preload.is_dynamic);
    assert!(!preload.is_read_only);
    assert!(!preload.is_pending_restart);
    assert!(preload.allowed_values.unwrap().contains("pglogical"));

    let skus = arm.capabilities(&h.server()).await.unwrap();
    let d4 = skus.iter().find(|s| s.name == "Standard_D4ds_v5").unwrap();
    assert_eq!((d4.vcores, d4.tier.as_str()), (4, "GeneralPurpose"));
    assert!(d4.memory_mb >= 16 * 1024);
}

/// The target rules' writes: a dynamic parameter, a static one that then waits for the restart,
/// the restart, and HA off — each a 202 followed through its operation to `Succeeded`.
#[tokio::test]
async fn follows_long_running_writes_to_the_end() {
    let h = harness(ServerSeed::new(SERVER).high_availability("ZoneRedundant", "")).await;
    let arm = h.client();

    let temp = arm.set_configuration(&h.server(), "azure.enable_temp_tablespaces_on_local_ssd", "off").await.unwrap();
    assert_eq!(temp.value.as_deref(), Some("off"));
    assert_eq!(temp.source.as_deref(), Some("user-override"));
    // The fake answers InProgress twice before Succeeded: three polls.
    let polls = h.arm.requests().iter().filter(|r| r.path.contains("azureAsyncOperation")).count();
    assert_eq!(polls, 3);

    let preload = arm
        .set_configuration(&h.server(), "shared_preload_libraries", "pg_cron,pg_stat_statements,pglogical")
        .await
        .unwrap();
    assert!(preload.is_pending_restart);
    assert_eq!(
        h.arm.running_value(SUBSCRIPTION, RESOURCE_GROUP, SERVER, "shared_preload_libraries").as_deref(),
        Some("pg_cron,pg_stat_statements")
    );

    arm.restart(&h.server()).await.unwrap();
    assert_eq!(arm.server(&h.server()).await.unwrap().state, ServerState::Ready);
    let preload = arm.configuration(&h.server(), "shared_preload_libraries").await.unwrap();
    assert!(!preload.is_pending_restart);

    let server = arm.set_high_availability(&h.server(), "Disabled", None).await.unwrap();
    assert_eq!(server.high_availability.mode, "Disabled");
    assert_eq!(server.high_availability.state, Some(HaState::NotEnabled));
    assert!(!h.statuses().contains(&409));
}

/// Throttling (429 with Retry-After) and server errors are waited out; persistent throttling ends
/// with ARM's code.
#[tokio::test]
async fn waits_out_throttling_and_server_errors() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let arm = h.client();
    arm.check_credentials().await.unwrap();

    h.arm.inject_throttling(2, 1);
    let started = std::time::Instant::now();
    arm.server(&h.server()).await.expect("throttling waited out");
    // Retry-After: 1 s was honoured up to the configured cap (50 ms), not ignored nor taken whole.
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(h.statuses().iter().filter(|s| **s == 429).count(), 2);

    h.arm.inject_server_errors(2, 503);
    arm.configuration(&h.server(), "work_mem").await.expect("5xx waited out");

    h.arm.inject_throttling(10, 1);
    let error = arm.server(&h.server()).await.unwrap_err();
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.code(), Some("SubscriptionRequestsThrottled"));
    assert!(error.hint().unwrap().contains("throttling"));
}

/// Two clients write to the same server at once: the second gets 409 ServerBusy until the first
/// operation ends, and waits it out. One client's own writes never collide: they are serialised.
#[tokio::test]
async fn waits_out_a_busy_server_and_serialises_its_own_writes() {
    let h = harness(ServerSeed::new(SERVER)).await;
    h.arm.set_polls_until_done(4);
    let first = h.client();
    let second = h.client();
    first.check_credentials().await.unwrap();
    second.check_credentials().await.unwrap();
    let server = h.server();

    let (a, b) = tokio::join!(first.set_configuration(&server, "work_mem", "8192"), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        second.set_configuration(&server, "maintenance_work_mem", "131072").await
    });
    assert_eq!(a.unwrap().value.as_deref(), Some("8192"));
    assert_eq!(b.unwrap().value.as_deref(), Some("131072"));
    assert!(h.statuses().contains(&409), "{:?}", h.statuses());

    h.arm.clear_requests();
    let (a, b) = tokio::join!(
        first.set_configuration(&server, "work_mem", "4096"),
        first.set_configuration(&server, "maintenance_work_mem", "65536"),
    );
    a.unwrap();
    b.unwrap();
    assert!(!h.statuses().contains(&409), "{:?}", h.statuses());
}

/// An operation ARM accepts but that ends `Failed` returns ARM's code and message, and changes
/// nothing.
#[tokio::test]
async fn a_failed_operation_keeps_arms_code_and_message() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let arm = h.client();
    h.arm.fail_next_operation("ServerParameterUpdateFailed", "The server parameter could not be updated.");
    let error = arm.set_configuration(&h.server(), "work_mem", "8192").await.unwrap_err();
    assert!(matches!(&error, AzureError::OperationFailed { status, .. } if status == "Failed"), "{error:?}");
    assert_eq!(error.code(), Some("ServerParameterUpdateFailed"));
    assert_eq!(error.message(), Some("The server parameter could not be updated."));
    assert!(error.to_string().contains("work_mem"), "{error}");
    let work_mem = arm.configuration(&h.server(), "work_mem").await.unwrap();
    assert_ne!(work_mem.value.as_deref(), Some("8192"));
}

/// A wrong client secret is one line naming the service principal and Entra's reason, with a hint,
/// and without the secret.
#[tokio::test]
async fn a_wrong_client_secret_is_one_clear_error() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let arm = Arm::connect(&h.settings("not-the-secret-value"), &h.trust).unwrap();
    let error = arm.server(&h.server()).await.unwrap_err();
    assert!(matches!(error, AzureError::Authentication { .. }), "{error:?}");
    let user = error.to_user_error();
    assert!(!user.message.contains('\n'), "{}", user.message);
    assert!(user.message.contains("AADSTS7000215"), "{}", user.message);
    assert!(user.message.contains(h.arm.client_id()), "{}", user.message);
    assert!(!user.message.contains("not-the-secret-value"));
    assert!(!format!("{error:?}").contains("not-the-secret-value"));
    assert!(user.hint.unwrap().contains("secret"));
    // No ARM request was made with a missing token.
    assert_eq!(h.arm.count_requests("GET", SERVER), 0);
}

/// A server name that does not exist: not found, naming it, with a hint at the spec's keys.
#[tokio::test]
async fn an_unknown_server_is_not_found_with_a_hint() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let arm = h.client();
    let missing = ServerId::new(SUBSCRIPTION, RESOURCE_GROUP, "pg-typo");
    let error = arm.server(&missing).await.unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(error.code(), Some("ResourceNotFound"));
    let user = error.to_user_error();
    assert!(user.message.starts_with("flexible server pg-typo"), "{}", user.message);
    assert!(user.hint.unwrap().contains("target.server"));

    let error = arm.configuration(&h.server(), "no_such_parameter").await.unwrap_err();
    assert_eq!(error.code(), Some("ConfigurationNotExists"));

    let error = arm.server(&ServerId::new(SUBSCRIPTION, "rg-typo", SERVER)).await.unwrap_err();
    assert_eq!(error.code(), Some("ResourceGroupNotFound"));
    assert!(error.hint().unwrap().contains("target.resource_group"));
}

/// An ARM endpoint or authority host outside Azure's clouds gets no credential unless the caller allowed
/// custom endpoints: the client refuses to be built, so nothing is sent (the fake ARM sees no request).
#[tokio::test]
async fn refuses_endpoints_outside_azure_unless_allowed() {
    let h = harness(ServerSeed::new(SERVER)).await;
    let mut settings = h.settings(h.arm.client_secret());
    settings.allow_custom_endpoints = false;
    let error = Arm::connect(&settings, &h.trust).unwrap_err();
    assert!(error.to_string().contains("is not one of Azure's clouds"), "{error}");
    assert!(error.to_user_error().hint.unwrap().contains("MIGPREP_ALLOW_CUSTOM_ENDPOINTS=1"));
    assert!(h.arm.requests().is_empty(), "nothing reached the endpoint");
    settings.arm_endpoint = Some("https://management.azure.com".into());
    let error = Arm::connect(&settings, &h.trust).unwrap_err();
    assert!(error.to_string().contains("the authority host"), "the secret's destination is checked too: {error}");
}

/// Plain-http endpoints are refused before any request: tokens never travel in the clear.
#[test]
fn refuses_a_plain_http_authority() {
    let settings = Settings { authority_host: Some("http://127.0.0.1:8080".into()), ..Settings::default() };
    let error = Arm::connect(&settings, &Trust::load(None).unwrap()).unwrap_err();
    assert!(error.to_string().contains("must use https"), "{error}");
}
