//! The token-checking gateways, driven by an ordinary PostgreSQL client: a valid token gets a working
//! session on the stand-in behind; a tampered, foreign, expired or misaddressed one is refused with
//! FATAL 28P01 as the services refuse it, and nothing of it reaches the stand-in.

use aws_config::BehaviorVersion;
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};
use migprep_testkit::arm::{FakeArm, FakeArmConfig};
use migprep_testkit::gateway::{Check, EntraCheck, Gateway, GatewayConfig, IamCheck, Refusal};
use migprep_testkit::postgres::PgServer;
use migprep_testkit::tls::CertAuthority;
use std::sync::Arc;
use std::time::Duration;

/// Connects through the gateway with `password` as the token; the current user on success, else the
/// server's SQLSTATE and message.
async fn login(ca: &CertAuthority, port: u16, user: &str, password: &str) -> Result<String, (String, String)> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::pem::PemObject::pem_slice_iter(ca.ca_pem.as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    let connected = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await;
    let (client, connection) = connected.map_err(|e| match e.as_db_error() {
        Some(db) => (db.code().code().to_string(), db.message().to_string()),
        None => (String::new(), e.to_string()),
    })?;
    tokio::spawn(connection);
    let row = client.query_one("SELECT current_user::text", &[]).await.unwrap();
    Ok(row.get(0))
}

async fn iam_token(port: u16, user: &str, secret: &str) -> String {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_rds::config::Credentials::new("testing", secret, None, None, "test"))
        .load()
        .await;
    let config = Config::builder().hostname("127.0.0.1").port(u64::from(port)).username(user).build().unwrap();
    AuthTokenGenerator::new(config).auth_token(&sdk).await.unwrap().to_string()
}

fn refused(result: Result<String, (String, String)>, message: &str) {
    let (code, text) = result.expect_err("the login must be refused");
    assert_eq!(code, "28P01", "{text}");
    assert!(text.contains(message), "{text}");
}

/// RDS IAM: the SDK's own token for this host, port and user logs in as that user; a token signed with
/// another key, one with a character changed, one for another user, one the gateway's clock says has
/// expired, and a plain password are refused as PAM failures.
#[tokio::test]
async fn the_iam_gateway_takes_only_valid_tokens_for_the_login() {
    let ca = Arc::new(CertAuthority::generate().unwrap());
    let source = PgServer::start_aurora(&ca).await.unwrap();
    let gateway = Gateway::start(GatewayConfig {
        check: Check::RdsIam(IamCheck {
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        host: "127.0.0.1".into(),
        upstream_port: source.port(),
        ca: ca.clone(),
        logins: vec![source.admin().clone(), source.migration_user().clone()],
    })
    .await
    .unwrap();
    let port = gateway.port();
    let admin = source.admin().user.clone();

    let token = iam_token(port, &admin, "testing").await;
    assert_eq!(login(&ca, port, &admin, &token).await.unwrap(), admin);
    // The session is the stand-in's own: statements run there.
    let migrator = source.migration_user().user.clone();
    let token = iam_token(port, &migrator, "testing").await;
    assert_eq!(login(&ca, port, &migrator, &token).await.unwrap(), migrator);

    let pam = format!("PAM authentication failed for user \"{admin}\"");
    refused(login(&ca, port, &admin, &iam_token(port, &admin, "another-key").await).await, &pam);
    let mut tampered = iam_token(port, &admin, "testing").await;
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    refused(login(&ca, port, &admin, &tampered).await, &pam);
    refused(login(&ca, port, &admin, &iam_token(port, &migrator, "testing").await).await, &pam);
    refused(login(&ca, port, &admin, &source.admin().password).await, &pam);
    let token = iam_token(port, &admin, "testing").await;
    gateway.set_clock_ahead(Duration::from_secs(16 * 60));
    refused(login(&ca, port, &admin, &token).await, &pam);

    let outcomes: Vec<_> = gateway.attempts().into_iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Ok(()),
            Ok(()),
            Err(Refusal::Signature),
            Err(Refusal::Signature),
            Err(Refusal::WrongUser),
            Err(Refusal::NotAToken),
            Err(Refusal::Expired)
        ]
    );
}

/// Entra: a token the fake endpoint issued for the PostgreSQL resource logs the principal's role in; the
/// same principal's ARM token (another audience), a token for a role created for no one, a forged one
/// and an expired one are refused.
#[tokio::test]
async fn the_entra_gateway_takes_only_database_tokens_of_the_roles_principal() {
    let ca = Arc::new(CertAuthority::generate().unwrap());
    let target = PgServer::start_flexible(&ca).await.unwrap();
    let arm = FakeArm::start(FakeArmConfig { certificate_authority: Some(ca.clone()), ..FakeArmConfig::default() })
        .await
        .unwrap();
    let admin = target.admin().user.clone();
    let principals = [(admin.clone(), arm.client_id().to_string())].into_iter().collect();
    let gateway = Gateway::start(GatewayConfig {
        check: Check::Entra(EntraCheck { key: arm.token_key(), tenant: arm.tenant_id().into(), principals }),
        host: "127.0.0.1".into(),
        upstream_port: target.port(),
        ca: ca.clone(),
        logins: vec![target.admin().clone(), target.migration_user().clone()],
    })
    .await
    .unwrap();
    let port = gateway.port();
    let ca_certificate = reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder().tls_certs_only([ca_certificate]).build().unwrap();
    let token = |scope: &'static str| {
        let http = http.clone();
        let url = format!("{}/{}/oauth2/v2.0/token", arm.authority_host(), arm.tenant_id());
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", arm.client_id())
            .append_pair("client_secret", arm.client_secret())
            .append_pair("scope", scope)
            .finish();
        async move {
            let answer: serde_json::Value = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["access_token"].as_str().unwrap().to_string()
        }
    };

    let database = token("https://ossrdbms-aad.database.windows.net/.default").await;
    assert_eq!(login(&ca, port, &admin, &database).await.unwrap(), admin);

    let failed = format!("password authentication failed for user \"{admin}\"");
    refused(login(&ca, port, &admin, &token("https://management.azure.com/.default").await).await, &failed);
    let migrator = target.migration_user().user.clone();
    refused(
        login(&ca, port, &migrator, &database).await,
        &format!("password authentication failed for user \"{migrator}\""),
    );
    let (head, signature) = database.rsplit_once('.').unwrap();
    // One character of the signature changed (the first: the last may carry only padding bits).
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{head}.{first}{}", &signature[1..]);
    refused(login(&ca, port, &admin, &forged).await, &failed);
    gateway.set_clock_ahead(Duration::from_secs(2 * 3600));
    refused(login(&ca, port, &admin, &database).await, &failed);

    let outcomes: Vec<_> = gateway.attempts().into_iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [Ok(()), Err(Refusal::WrongAudience), Err(Refusal::WrongUser), Err(Refusal::Signature), Err(Refusal::Expired)]
    );
}
