//! The Azure credential chain, each source selected by its environment as the other Azure SDKs select it:
//! a client secret, a client certificate (PEM, or PFX with a password), workload identity, managed
//! identity (system- and user-assigned, through the IMDS and App Service endpoints of the fake), the az
//! CLI asked for the tenant; `AZURE_TOKEN_CREDENTIALS` narrowing the chain; an explicit credential's
//! failure being final; and every source's message when all fail. The fake Entra ID checks what it is
//! shown (a certificate's signature, the exact federated token, a registered managed identity), records
//! which kind of credential got each token, and the plan's header must name the same.
//!
//! The fake `az` is a shell script first on `PATH` that logs its arguments and prints a token the fake
//! minted; `azd` is not installed. IMDS is the fake ARM through `AZURE_POD_IDENTITY_AUTHORITY_HOST`
//! (the scenario's environment sets it), never 169.254.169.254.

mod common;

use common::{migprep, parse_plan, text};
use migprep_testkit::scenario::{Output, Scenario};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use std::path::{Path, PathBuf};

/// The ARM audience migprep asks for at the fake (a custom endpoint gets the public cloud's audience).
const ARM_AUDIENCE: &str = "https://management.azure.com";
const USER: &str = "dba@contoso.example";

/// A self-signed RSA certificate and its key.
fn certificate(name: &str) -> (PKey<Private>, X509) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut subject = X509NameBuilder::new().unwrap();
    subject.append_entry_by_nid(Nid::COMMONNAME, name).unwrap();
    let subject = subject.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap()).unwrap();
    cert.set_subject_name(&subject).unwrap();
    cert.set_issuer_name(&subject).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    (key, cert.build())
}

fn thumbprint(cert: &X509) -> String {
    hex::encode_upper(cert.digest(MessageDigest::sha1()).unwrap())
}

fn pem_file(dir: &Path, name: &str, key: &PKey<Private>, cert: &X509) -> PathBuf {
    let mut pem = cert.to_pem().unwrap();
    pem.extend(key.private_key_to_pem_pkcs8().unwrap());
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// A fake `az` in its own folder: logs its arguments to `az.log` beside it and prints `token` as
/// `az account get-access-token -o json` does, or fails like a CLI nobody signed in to.
struct FakeAz {
    dir: tempfile::TempDir,
}

impl FakeAz {
    fn new(token: Option<(&str, u64)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("az.log");
        let body = match token {
            Some((token, expires_on)) => format!(
                "cat <<'EOF'\n{{\"accessToken\": \"{token}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \
                 \"expires_on\": {expires_on}, \"subscription\": \"x\", \"tenant\": \"x\", \"tokenType\": \"Bearer\"}}\nEOF\n"
            ),
            None => "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".to_string(),
        };
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n{body}", log.display());
        let path = dir.path().join("az");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    /// `PATH` with the fake first and no other Azure tool.
    fn path(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.dir.path().display())
    }

    /// Each run's arguments, or `None` if it never ran.
    fn runs(&self) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.path().join("az.log")).ok()?;
        Some(text.lines().map(str::to_string).collect())
    }
}

/// `plan --format json` of the scenario's spec with `env`; the Azure identity of the header, or the failed
/// run.
async fn plan(scenario: &Scenario, env: &[(&str, &str)]) -> Result<String, Output> {
    let spec = scenario.write_spec(&scenario.spec()).unwrap();
    let run = migprep(scenario, &["plan", "--format", "json", text(&spec)], env).await;
    assert!(!run.stdout.contains("BEGIN") && !run.stderr.contains("BEGIN"), "key material in the output");
    assert!(!run.stderr.contains("eyJ"), "a token in the output:\n{}", run.stderr);
    if run.code != 0 {
        return Err(run);
    }
    let plan = parse_plan(&run.stdout);
    let azure = plan["connections"].as_array().unwrap().iter().find(|c| c["system"] == "azure").unwrap().clone();
    Ok(azure["identity"].as_str().unwrap().to_string())
}

/// The kinds of the grants the fake handed out since `from`.
fn kinds(scenario: &Scenario, from: usize) -> Vec<&'static str> {
    scenario.arm.grants()[from..].iter().map(|g| g.kind).collect()
}

fn failed(run: Result<String, Output>) -> Output {
    let run = run.expect_err("the run should have failed");
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.lines().any(|l| l.starts_with("hint: ")), "{}", run.stderr);
    run
}

/// A client certificate from the environment, as PEM and as a password-protected PFX, is used instead of
/// anything else, signs an assertion the fake verifies against the registered certificate, and is named
/// by its thumbprint in the header. An unregistered certificate is refused like Entra refuses it, and
/// that is final: the az CLI on the path is never run.
#[tokio::test]
async fn a_client_certificate_is_used_and_its_failure_is_final() {
    let scenario = Scenario::start().await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let (key, cert) = certificate("migprep-ci");
    scenario.arm.register_certificate(&cert.to_pem().unwrap()).unwrap();
    let az = FakeAz::new(Some((&scenario.arm.mint_user_token(ARM_AUDIENCE, USER).token, u64::MAX / 4)));
    let path = az.path();

    let pem = pem_file(files.path(), "app.pem", &key, &cert);
    let grants = scenario.arm.grants().len();
    let identity =
        plan(&scenario, &[("AZURE_CLIENT_SECRET", ""), ("AZURE_CLIENT_CERTIFICATE_PATH", text(&pem)), ("PATH", &path)])
            .await
            .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.starts_with(&format!("client certificate {} (migprep-ci)", thumbprint(&cert))), "{identity}");
    assert!(identity.contains("(AZURE_CLIENT_CERTIFICATE_PATH)"), "{identity}");
    assert!(identity.contains(scenario.arm.client_id()) && identity.contains(scenario.arm.tenant_id()), "{identity}");
    assert!(kinds(&scenario, grants).iter().all(|k| *k == "client_certificate"), "{:?}", kinds(&scenario, grants));
    assert!(!kinds(&scenario, grants).is_empty());

    let pfx = files.path().join("app.pfx");
    let der = Pkcs12::builder().name("app").pkey(&key).cert(&cert).build2("pfx-pass").unwrap().to_der().unwrap();
    std::fs::write(&pfx, der).unwrap();
    let grants = scenario.arm.grants().len();
    let env = [
        ("AZURE_CLIENT_SECRET", ""),
        ("AZURE_CLIENT_CERTIFICATE_PATH", text(&pfx)),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-pass"),
        ("PATH", &path),
    ];
    let identity = plan(&scenario, &env).await.unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.contains(&thumbprint(&cert)), "{identity}");
    assert_eq!(kinds(&scenario, grants)[0], "client_certificate");

    let wrong_password = failed(
        plan(
            &scenario,
            &[
                ("AZURE_CLIENT_SECRET", ""),
                ("AZURE_CLIENT_CERTIFICATE_PATH", text(&pfx)),
                ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "not-it"),
                ("PATH", &path),
            ],
        )
        .await,
    );
    assert!(wrong_password.stderr.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"), "{}", wrong_password.stderr);
    assert!(wrong_password.stderr.contains("app.pfx") && !wrong_password.stderr.contains("not-it"));

    let (other_key, other_cert) = certificate("not-registered");
    let unknown = pem_file(files.path(), "other.pem", &other_key, &other_cert);
    let run = failed(
        plan(
            &scenario,
            &[("AZURE_CLIENT_SECRET", ""), ("AZURE_CLIENT_CERTIFICATE_PATH", text(&unknown)), ("PATH", &path)],
        )
        .await,
    );
    assert!(run.stderr.contains("AADSTS700027"), "{}", run.stderr);
    assert!(run.stderr.contains(&thumbprint(&other_cert)), "{}", run.stderr);
    assert_eq!(az.runs(), None, "the az CLI ran after an explicit credential failed");
}

/// Workload identity presents the token file's content; the fake accepts only the registered federated
/// token, and an unknown one is refused (AADSTS700211) without falling through to the az CLI.
#[tokio::test]
async fn workload_identity_presents_the_federated_token() {
    let scenario = Scenario::start().await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let az = FakeAz::new(Some((&scenario.arm.mint_user_token(ARM_AUDIENCE, USER).token, u64::MAX / 4)));
    let token_file = files.path().join("token");
    std::fs::write(&token_file, "k8s-service-account-token-0123").unwrap();
    scenario.arm.register_federated_token("k8s-service-account-token-0123");
    let env = [("AZURE_CLIENT_SECRET", ""), ("AZURE_FEDERATED_TOKEN_FILE", text(&token_file)), ("PATH", &az.path())];
    let grants = scenario.arm.grants().len();
    let identity = plan(&scenario, &env).await.unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.starts_with("workload identity for application"), "{identity}");
    assert_eq!(kinds(&scenario, grants)[0], "federated_token");

    std::fs::write(&token_file, "someone-elses-token").unwrap();
    let run = failed(plan(&scenario, &env).await);
    assert!(run.stderr.contains("AADSTS700211"), "{}", run.stderr);
    assert_eq!(az.runs(), None);
}

/// Without a service principal, the managed identity answers: system-assigned at the IMDS path (moved to
/// the fake by `AZURE_POD_IDENTITY_AUTHORITY_HOST`), user-assigned when `AZURE_CLIENT_ID` names it, and
/// through App Service's `IDENTITY_ENDPOINT`. One that is not assigned, named by
/// `AZURE_TOKEN_CREDENTIALS`, is final.
#[tokio::test]
async fn managed_identities_system_and_user_assigned() {
    let scenario = Scenario::start().await.unwrap();
    let az = FakeAz::new(None);
    let path = az.path();
    let no_app = [("AZURE_CLIENT_SECRET", ""), ("AZURE_CLIENT_ID", ""), ("PATH", path.as_str())];
    scenario.arm.register_managed_identity(None);
    let grants = scenario.arm.grants().len();
    let identity = plan(&scenario, &no_app).await.unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.starts_with("managed identity (system-assigned) at https://127.0.0.1:"), "{identity}");
    assert!(identity.contains("AZURE_POD_IDENTITY_AUTHORITY_HOST"), "{identity}");
    assert_eq!(kinds(&scenario, grants)[0], "managed_identity");

    let user_assigned = "5b1d6c0e-0b4f-4b7e-9a51-6a0c7f1e2d3c";
    scenario.arm.register_managed_identity(Some(user_assigned));
    let grants = scenario.arm.grants().len();
    let env = [("AZURE_CLIENT_SECRET", ""), ("AZURE_CLIENT_ID", user_assigned), ("PATH", path.as_str())];
    let identity = plan(&scenario, &env).await.unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(
        identity.starts_with(&format!("managed identity (user-assigned, client id {user_assigned})")),
        "{identity}"
    );
    let grant = &scenario.arm.grants()[grants];
    assert_eq!((grant.kind, grant.principal.as_str()), ("managed_identity", user_assigned));

    scenario.arm.set_identity_header("app-service-secret");
    let endpoint = scenario.arm.identity_endpoint();
    let app_service = [
        ("AZURE_CLIENT_SECRET", ""),
        ("AZURE_CLIENT_ID", user_assigned),
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "app-service-secret"),
        ("PATH", path.as_str()),
    ];
    let identity = plan(&scenario, &app_service).await.unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.contains("(IDENTITY_ENDPOINT)"), "{identity}");
    assert!(scenario.arm.count_requests("GET", "/msi/token") > 0);

    let unassigned = [
        ("AZURE_CLIENT_SECRET", ""),
        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
        ("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential"),
        ("PATH", path.as_str()),
    ];
    let run = failed(plan(&scenario, &unassigned).await);
    assert!(run.stderr.contains("managed identity (user-assigned, client id 00000000"), "{}", run.stderr);
    assert!(run.stderr.contains("has not been assigned"), "{}", run.stderr);
    assert_eq!(az.runs(), None, "a credential named by AZURE_TOKEN_CREDENTIALS is final");
}

/// The az CLI is asked for `AZURE_TOKEN_CREDENTIALS=dev`'s token in AZURE_TENANT_ID's tenant, even with a
/// client secret in the environment, and the header names the CLI, the tenant and the user. In the full
/// chain without a service principal it is reached after the managed identity fails.
#[tokio::test]
async fn the_az_cli_is_asked_for_the_tenant() {
    let scenario = Scenario::start().await.unwrap();
    let minted = scenario.arm.mint_user_token(ARM_AUDIENCE, USER);
    let az = FakeAz::new(Some((&minted.token, minted.expires_on)));
    let tenant = scenario.arm.tenant_id().to_string();
    let grants = scenario.arm.grants().len();
    let identity = plan(&scenario, &[("AZURE_TOKEN_CREDENTIALS", "dev"), ("PATH", &az.path())])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.starts_with(&format!("az CLI (tenant {tenant}): user {USER}")), "{identity}");
    assert_eq!(kinds(&scenario, grants), Vec::<&str>::new(), "the client secret must not have been used");
    let runs = az.runs().expect("az ran");
    assert!(runs.iter().all(|r| r.contains(&format!("--tenant {tenant}"))), "{runs:?}");
    assert!(runs[0].starts_with("account get-access-token -o json --scope "), "{runs:?}");

    let identity = plan(&scenario, &[("AZURE_CLIENT_SECRET", ""), ("PATH", &az.path())])
        .await
        .unwrap_or_else(|run| panic!("{}", run.stderr));
    assert!(identity.starts_with("az CLI (tenant"), "{identity}");
    let imds = scenario.arm.count_requests("GET", "/metadata/identity/oauth2/token");
    assert!(imds > 0, "the managed identity was not tried first");
}

/// The spec's `target.tenant` is the tenant the az CLI signs in to, before `AZURE_TENANT_ID`; a token for
/// another tenant (here the CLI's, while the spec names a second tenant) is refused with the tenants named
/// and a hint, and no request reaches ARM's resources with it.
#[tokio::test]
async fn the_specs_tenant_is_signed_in_to_and_a_token_for_another_is_refused() {
    let scenario = Scenario::start().await.unwrap();
    let minted = scenario.arm.mint_user_token(ARM_AUDIENCE, USER);
    let az = FakeAz::new(Some((&minted.token, minted.expires_on)));
    let tenant = scenario.arm.tenant_id().to_string();
    let path = az.path();
    let env = [
        ("AZURE_TOKEN_CREDENTIALS", "dev"),
        ("PATH", path.as_str()),
        ("AZURE_TENANT_ID", "11111111-1111-1111-1111-111111111111"),
    ];
    let with_tenant = |value: &str| {
        let mut spec = scenario.spec();
        spec["target"].as_table_mut().unwrap().insert("tenant".into(), value.into());
        scenario.write_spec(&spec).unwrap()
    };

    let run = migprep(&scenario, &["plan", text(&with_tenant(&tenant))], &env).await;
    assert!(run.code == 0 || run.code == 2, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let runs = az.runs().expect("az ran");
    assert!(runs.iter().all(|r| r.contains(&format!("--tenant {tenant}"))), "{runs:?}");

    let other = "22222222-2222-2222-2222-222222222222";
    scenario.arm.clear_requests();
    let run = migprep(&scenario, &["plan", text(&with_tenant(other))], &env).await;
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let refusal = format!("its token is for tenant {tenant}, but the spec's target.tenant is {other}");
    assert!(run.stderr.contains(&refusal), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("hint: sign in to the subscription's tenant (`az login --tenant {other}`)")));
    assert!(az.runs().unwrap().last().unwrap().contains(&format!("--tenant {other}")));
    let reached: Vec<String> = scenario.arm.requests().into_iter().map(|r| r.path).collect();
    assert!(reached.iter().all(|path| !path.starts_with("/subscriptions")), "{reached:?}");
}

/// `AZURE_TOKEN_CREDENTIALS`: `prod` leaves out the az CLI; a name keeps only that credential (the
/// secret is ignored when `AzureCliCredential` is named); any other value is one error naming the
/// variable and the accepted values, before anything is sent to Azure.
#[tokio::test]
async fn token_credentials_narrow_the_chain() {
    let scenario = Scenario::start().await.unwrap();
    let minted = scenario.arm.mint_user_token(ARM_AUDIENCE, USER);
    let az = FakeAz::new(Some((&minted.token, minted.expires_on)));
    let path = az.path();

    let grants = scenario.arm.grants().len();
    let identity = plan(&scenario, &[("AZURE_TOKEN_CREDENTIALS", "prod"), ("PATH", &path)]).await.unwrap();
    assert!(identity.starts_with("service principal"), "{identity}");
    assert_eq!(kinds(&scenario, grants)[0], "client_secret");
    let run = failed(
        plan(&scenario, &[("AZURE_TOKEN_CREDENTIALS", "prod"), ("AZURE_CLIENT_SECRET", ""), ("PATH", &path)]).await,
    );
    assert!(run.stderr.contains("managed identity"), "{}", run.stderr);
    assert_eq!(az.runs(), None, "prod must not run the az CLI");

    let identity =
        plan(&scenario, &[("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential"), ("PATH", &path)]).await.unwrap();
    assert!(identity.starts_with("az CLI"), "{identity}");

    let requests = scenario.arm.requests().len();
    let run = failed(plan(&scenario, &[("AZURE_TOKEN_CREDENTIALS", "DefaultAzureCredential")]).await);
    assert!(run.stderr.contains("AZURE_TOKEN_CREDENTIALS is 'DefaultAzureCredential'"), "{}", run.stderr);
    assert!(run.stderr.contains("dev, prod, EnvironmentCredential, WorkloadIdentityCredential"), "{}", run.stderr);
    assert_eq!(scenario.arm.requests().len(), requests, "nothing may reach Azure with a bad selection");
}

/// The specs of one run share an Azure credential only within a tenant: in a run of two specs naming two
/// tenants, the az CLI is asked for each, the spec of the CLI's tenant is planned, and the other's token
/// is refused for its own tenant, not borrowed from the first spec.
#[tokio::test]
async fn specs_of_one_run_in_two_tenants_each_sign_in_to_their_own() {
    let scenario = Scenario::start().await.unwrap();
    let minted = scenario.arm.mint_user_token(ARM_AUDIENCE, USER);
    let az = FakeAz::new(Some((&minted.token, minted.expires_on)));
    let (home, away) = (scenario.arm.tenant_id().to_string(), "22222222-2222-2222-2222-222222222222".to_string());
    let write = |name: &str, tenant: &str| {
        let mut spec = scenario.spec();
        spec.insert("name".into(), name.into());
        spec["target"].as_table_mut().unwrap().insert("tenant".into(), tenant.into());
        let path = scenario.dir().join(format!("{name}.toml"));
        std::fs::write(&path, toml::to_string(&spec).unwrap()).unwrap();
        path
    };
    let specs = [write("home", &home), write("away", &away)];
    let path = az.path();
    let env = [("AZURE_TOKEN_CREDENTIALS", "dev"), ("PATH", path.as_str())];
    let run = migprep(&scenario, &["plan", "--format", "json", text(&specs[0]), text(&specs[1])], &env).await;
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let document: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let results: Vec<&str> =
        document["specs"].as_array().unwrap().iter().map(|s| s["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["changes", "failed"], "{document:#}");
    let refusal = format!("its token is for tenant {home}, but the spec's target.tenant is {away}");
    assert!(document["specs"][1]["error"].as_str().unwrap().contains(&refusal), "{document:#}");
    let runs = az.runs().expect("az ran");
    for tenant in [&home, &away] {
        assert!(runs.iter().any(|r| r.ends_with(&format!("--tenant {tenant}"))), "az asked for {tenant}: {runs:?}");
    }
}

/// When every credential of the chain fails, the error lists each one with its own full message, and the
/// chain was tried once, however many requests were waiting for a token.
#[tokio::test]
async fn when_all_fail_every_message_is_shown() {
    let scenario = Scenario::start().await.unwrap();
    let az = FakeAz::new(None);
    let run = failed(plan(&scenario, &[("AZURE_CLIENT_SECRET", ""), ("PATH", &az.path())]).await);
    let stderr = &run.stderr;
    assert!(stderr.contains("no Azure credential gave a token; tried:"), "{stderr}");
    let tried: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(tried.len(), 3, "{stderr}");
    assert!(tried[0].contains("managed identity") && tried[0].contains("has not been assigned"), "{stderr}");
    assert!(tried[1].starts_with("  - az CLI") && tried[1].contains("Please run 'az login'"), "{stderr}");
    assert!(tried[2].starts_with("  - azd") && tried[2].contains("azd not found"), "{stderr}");
    assert!(!stderr.contains("Multiple errors"), "{stderr}");
    let runs = az.runs().expect("the az CLI was not tried");
    assert_eq!(runs.len(), 1, "a failed chain is tried once per run, not once per request: {runs:?}");
    let imds = scenario.arm.count_requests("GET", "/metadata/identity/oauth2/token");
    assert_eq!(imds, 1, "the managed identity was asked more than once");
}

/// The fake Entra ID checks a client assertion as Entra does: a registered certificate's thumbprint with
/// another key's signature, an assertion for another audience, an expired one and one issued by another
/// application are refused, each with its AADSTS code; the genuine one gets a token.
#[tokio::test]
async fn the_fake_entra_checks_client_assertions() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let scenario = Scenario::start().await.unwrap();
    let (key, cert) = certificate("registered");
    scenario.arm.register_certificate(&cert.to_pem().unwrap()).unwrap();
    let (other_key, _) = certificate("impostor");
    let tenant = scenario.arm.tenant_id();
    let client = scenario.arm.client_id();
    let endpoint = format!("{}/{tenant}/oauth2/v2.0/token", scenario.arm.endpoint());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let x5t = STANDARD.encode(cert.digest(MessageDigest::sha1()).unwrap());
    let assertion = |signer: &PKey<Private>, aud: &str, iss: &str, exp: u64| {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"JWT","x5t":"{x5t}"}}"#));
        let claims = format!(r#"{{"aud":"{aud}","iss":"{iss}","sub":"{iss}","exp":{exp},"nbf":{now},"jti":"1"}}"#);
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), signer).unwrap();
        signer.update(signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap()))
    };
    let ca = scenario.dir().join("ca.pem");
    let http = migprep::tls::Trust::load(Some(&ca)).unwrap().http_client_builder().unwrap().build().unwrap();
    let ask = |assertion: String| {
        let http = http.clone();
        let endpoint = endpoint.clone();
        async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("scope", "https://management.azure.com/.default"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            let body = form_body(&form);
            let response = http
                .post(&endpoint)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, body) = ask(assertion(&key, &endpoint, client, now + 300)).await;
    assert_eq!(status, 200, "{body}");
    for (forged, code) in [
        (assertion(&other_key, &endpoint, client, now + 300), "AADSTS700027"),
        (assertion(&key, "https://login.example/other/oauth2/v2.0/token", client, now + 300), "AADSTS700212"),
        (assertion(&key, &endpoint, client, now - 3600), "AADSTS700024"),
        (assertion(&key, &endpoint, "another-application", now + 300), "AADSTS700021"),
    ] {
        let (status, body) = ask(forged).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(code), "{code}: {body}");
    }
}

/// A form body, percent-encoded.
fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}
