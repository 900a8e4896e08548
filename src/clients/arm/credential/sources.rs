//! Which credentials the chain tries, in the order of the other Azure SDKs' `DefaultAzureCredential`:
//! the environment's service principal (`EnvironmentCredential`: a client secret, else a client
//! certificate), workload identity, managed identity, the az CLI, azd. `AZURE_TOKEN_CREDENTIALS` narrows
//! it as they do: `dev` keeps the developer tools, `prod` the other three, a credential's name keeps only
//! that one.
//!
//! A credential is decisive (its failure is the answer, nothing else is tried) when the environment
//! configured it explicitly (a secret, a certificate, a federated token file) or when
//! `AZURE_TOKEN_CREDENTIALS` names it. The others are tried in turn, and when all fail every one of
//! them is reported.

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{SecretBytes, TokenCredential};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, HttpClient, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential, AzureDeveloperCliCredentialOptions,
    ClientAssertionCredentialOptions, ClientCertificateCredential, ClientCertificateCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use super::super::{AzureError, Backoff};
use super::imds::ImdsTransport;
use super::{ChainEnvironment, Source, certificate, to_time};
use crate::secret::Secret;

/// How long the chain waits for the instance metadata endpoint before moving on: off Azure it does not
/// answer, and a developer's `az login` should not wait for it.
const IMDS_PROBE: Duration = Duration::from_secs(3);

/// One kind of credential, by the name the Azure SDKs give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Environment,
    WorkloadIdentity,
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
}

impl Kind {
    const ALL: [Kind; 5] =
        [Kind::Environment, Kind::WorkloadIdentity, Kind::ManagedIdentity, Kind::AzureCli, Kind::AzureDeveloperCli];

    fn name(self) -> &'static str {
        match self {
            Kind::Environment => "EnvironmentCredential",
            Kind::WorkloadIdentity => "WorkloadIdentityCredential",
            Kind::ManagedIdentity => "ManagedIdentityCredential",
            Kind::AzureCli => "AzureCliCredential",
            Kind::AzureDeveloperCli => "AzureDeveloperCliCredential",
        }
    }

    fn is_developer_tool(self) -> bool {
        matches!(self, Kind::AzureCli | Kind::AzureDeveloperCli)
    }
}

/// What `AZURE_TOKEN_CREDENTIALS` keeps of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Selection {
    Every,
    Dev,
    Prod,
    Only(Kind),
}

impl Selection {
    /// Parses `AZURE_TOKEN_CREDENTIALS` (case and surrounding blanks do not matter).
    pub(super) fn parse(raw: Option<&str>) -> Result<Selection, AzureError> {
        let Some(raw) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Selection::Every);
        };
        if raw.eq_ignore_ascii_case("dev") {
            return Ok(Selection::Dev);
        }
        if raw.eq_ignore_ascii_case("prod") {
            return Ok(Selection::Prod);
        }
        if let Some(kind) = Kind::ALL.into_iter().find(|kind| kind.name().eq_ignore_ascii_case(raw)) {
            return Ok(Selection::Only(kind));
        }
        let names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
        Err(AzureError::Configuration {
            message: format!(
                "AZURE_TOKEN_CREDENTIALS is '{}'; accepted values are dev, prod, {}",
                crate::text::inert(raw, false),
                names.join(", ")
            ),
            hint: "dev tries the az CLI and azd; prod tries the environment's service principal, workload identity \
                   and managed identity; a credential's name uses only that one; unset it to try them all"
                .into(),
        })
    }

    fn includes(self, kind: Kind) -> bool {
        match self {
            Selection::Every => true,
            Selection::Dev => kind.is_developer_tool(),
            Selection::Prod => !kind.is_developer_tool(),
            Selection::Only(only) => only == kind,
        }
    }
}

/// What building a source needs besides the environment.
pub(super) struct Context<'a> {
    pub authority_host: &'a str,
    pub http: &'a reqwest::Client,
    pub imds_http: &'a reqwest::Client,
    pub backoff: &'a Backoff,
}

impl Context<'_> {
    fn options(&self, retry: RetryOptions, http: Arc<dyn HttpClient>) -> ClientOptions {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = self.authority_host.to_string();
        ClientOptions {
            transport: Some(Transport::new(http)),
            retry,
            cloud: Some(Arc::new(CloudConfiguration::from(custom))),
            ..Default::default()
        }
    }

    /// azure_core retries connection failures too, TLS trust failures included; keep that short so a
    /// missing `ca_file` is reported in seconds, not minutes.
    fn retry(&self) -> RetryOptions {
        RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: to_time(self.backoff.initial_delay),
            max_retries: self.backoff.max_attempts.saturating_sub(1).min(3),
            max_total_elapsed: to_time(Duration::from_secs(30)),
            max_delay: to_time(self.backoff.max_delay.min(Duration::from_secs(5))),
        })
    }

    fn entra_options(&self) -> ClientOptions {
        self.options(self.retry(), Arc::new(self.http.clone()))
    }

    /// A service principal with a client secret.
    pub(super) fn service_principal(
        &self,
        tenant: &str,
        client: &str,
        secret: &Secret,
        from_env: bool,
    ) -> Result<Source, AzureError> {
        let credential = ClientSecretCredential::new(
            tenant,
            client.to_string(),
            azure_core::credentials::Secret::new(secret.expose().to_string()),
            Some(ClientSecretCredentialOptions { client_options: self.entra_options() }),
        )
        .map_err(|e| setup("service principal", e))?;
        Ok(Source::entra(
            format!(
                "service principal {client} in tenant {tenant}{}",
                if from_env { " (AZURE_CLIENT_SECRET)" } else { "" }
            ),
            credential,
            true,
            "check the client secret: it must be the secret's value (not its id) and not expired, for that \
             application in that tenant",
        ))
    }
}

fn setup(what: &str, e: azure_core::Error) -> AzureError {
    AzureError::Setup(format!("cannot set up the {what} credential: {}", super::describe(&e)))
}

/// The chain's sources for `environment`, in order.
pub(super) fn chain(environment: &ChainEnvironment, context: &Context<'_>) -> Result<Vec<Source>, AzureError> {
    let selection = Selection::parse(environment.token_credentials.as_deref())?;
    let named = matches!(selection, Selection::Only(_));
    let mut sources = Vec::new();
    if selection.includes(Kind::Environment) {
        match environment_credential(environment, context)? {
            Some(source) => sources.push(source),
            None if named => {
                return Err(not_configured(
                    Kind::Environment,
                    "neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set",
                    "set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or \
                     AZURE_CLIENT_CERTIFICATE_PATH",
                ));
            }
            None => {}
        }
    }
    if selection.includes(Kind::WorkloadIdentity) {
        match &environment.federated_token_file {
            Some(file) => sources.push(workload_identity(environment, file, context)?),
            None if named => {
                return Err(not_configured(
                    Kind::WorkloadIdentity,
                    "AZURE_FEDERATED_TOKEN_FILE is not set",
                    "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (the workload identity \
                     webhook does this in a pod)",
                ));
            }
            None => {}
        }
    }
    if selection.includes(Kind::ManagedIdentity) {
        sources.push(managed_identity(environment, context, named)?);
    }
    let tenant = environment.tenant.as_deref().or(environment.tenant_id.as_deref());
    // Each tool with its name, how to sign in (the tenant's flag appended) and the credential.
    let tool =
        |name: &str, login: &str, tenant_flag: &str, credential: azure_core::Result<Arc<dyn TokenCredential>>| {
            let credential = credential.map_err(|e| bad_tenant(name, e))?;
            let (in_tenant, login) = match tenant {
                Some(tenant) => (format!("tenant {tenant}"), format!("sign in with `{login} {tenant_flag} {tenant}`")),
                None => ("its default tenant".to_string(), format!("sign in with `{login}`")),
            };
            Ok::<_, AzureError>(Source::local(format!("{name} ({in_tenant})"), credential, named, login))
        };
    if selection.includes(Kind::AzureCli) {
        let options = AzureCliCredentialOptions { tenant_id: tenant.map(str::to_string), ..Default::default() };
        let credential = AzureCliCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>);
        sources.push(tool("az CLI", "az login", "--tenant", credential)?);
    }
    if selection.includes(Kind::AzureDeveloperCli) {
        let options =
            AzureDeveloperCliCredentialOptions { tenant_id: tenant.map(str::to_string), ..Default::default() };
        let credential = AzureDeveloperCliCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>);
        sources.push(tool("azd", "azd auth login", "--tenant-id", credential)?);
    }
    Ok(sources)
}

fn not_configured(kind: Kind, problem: &str, hint: &str) -> AzureError {
    AzureError::Configuration {
        message: format!("AZURE_TOKEN_CREDENTIALS selects {}, but {problem}", kind.name()),
        hint: hint.into(),
    }
}

fn bad_tenant(what: &str, e: azure_core::Error) -> AzureError {
    AzureError::Configuration {
        message: format!("AZURE_TENANT_ID cannot be passed to {what}: {}", super::describe(&e)),
        hint: "AZURE_TENANT_ID must be a tenant id (a GUID) or a domain name such as contoso.onmicrosoft.com".into(),
    }
}

/// The ids a service principal or workload identity needs, or an error naming the missing variable.
fn ids<'e>(environment: &'e ChainEnvironment, by: &str) -> Result<(&'e str, &'e str), AzureError> {
    let missing = |name: &str| AzureError::Configuration {
        message: format!("{by} is set but {name} is not"),
        hint: format!("{by} needs AZURE_TENANT_ID and AZURE_CLIENT_ID (the application's tenant and client id)"),
    };
    let tenant = environment.tenant_id.as_deref().ok_or_else(|| missing("AZURE_TENANT_ID"))?;
    let client = environment.client_id.as_deref().ok_or_else(|| missing("AZURE_CLIENT_ID"))?;
    Ok((tenant, client))
}

/// `EnvironmentCredential`: a client secret, else a client certificate; `None` when neither is set.
fn environment_credential(environment: &ChainEnvironment, context: &Context<'_>) -> Result<Option<Source>, AzureError> {
    if let Some(secret) = &environment.client_secret {
        let (tenant, client) = ids(environment, "AZURE_CLIENT_SECRET")?;
        return context.service_principal(tenant, client, secret, true).map(Some);
    }
    let Some(path) = &environment.client_certificate_path else {
        return Ok(None);
    };
    let (tenant, client) = ids(environment, "AZURE_CLIENT_CERTIFICATE_PATH")?;
    let certificate = certificate::read(path, environment.client_certificate_password.as_ref())?;
    let credential = ClientCertificateCredential::new(
        tenant.to_string(),
        client.to_string(),
        SecretBytes::new(certificate.pkcs12.clone()),
        Some(ClientCertificateCredentialOptions {
            client_options: context.entra_options(),
            password: certificate
                .password
                .as_ref()
                .map(|p| azure_core::credentials::Secret::new(p.expose().to_string())),
        }),
    )
    .map_err(|e| AzureError::Configuration {
        message: format!(
            "cannot use the client certificate {} (AZURE_CLIENT_CERTIFICATE_PATH): {}",
            crate::text::inert(&path.display().to_string(), false),
            super::describe(&e)
        ),
        hint: "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the certificate file".into(),
    })?;
    let subject = certificate.subject.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
    Ok(Some(Source::entra(
        format!(
            "client certificate {}{subject} for application {client} in tenant {tenant} \
             (AZURE_CLIENT_CERTIFICATE_PATH)",
            certificate.thumbprint
        ),
        credential,
        true,
        "check that this certificate (its thumbprint above) is uploaded to the application's certificates in \
         that tenant, and not expired",
    )))
}

fn workload_identity(environment: &ChainEnvironment, file: &str, context: &Context<'_>) -> Result<Source, AzureError> {
    let (tenant, client) = ids(environment, "AZURE_FEDERATED_TOKEN_FILE")?;
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions { client_options: context.entra_options() },
        tenant_id: Some(tenant.to_string()),
        client_id: Some(client.to_string()),
        token_file_path: Some(file.into()),
    }))
    .map_err(|e| AzureError::Configuration {
        message: format!(
            "cannot use the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {}",
            crate::text::inert(file, false),
            super::describe(&e)
        ),
        hint: "AZURE_FEDERATED_TOKEN_FILE must name a readable file holding the service account token".into(),
    })?;
    Ok(Source::entra(
        format!("workload identity for application {client} in tenant {tenant} (AZURE_FEDERATED_TOKEN_FILE)"),
        credential,
        true,
        "check the federated credential of the application (AZURE_CLIENT_ID): its issuer and subject must \
         match the token in AZURE_FEDERATED_TOKEN_FILE",
    ))
}

/// Managed identity: user-assigned when `AZURE_CLIENT_ID` is set, else system-assigned. In the chain its
/// first request is a probe bounded by [`IMDS_PROBE`], without retries.
fn managed_identity(environment: &ChainEnvironment, context: &Context<'_>, named: bool) -> Result<Source, AzureError> {
    let transport =
        ImdsTransport::new(Arc::new(context.imds_http.clone()), environment.imds_authority_host.as_deref())?;
    let endpoint = match &environment.identity_endpoint {
        Some(endpoint) => format!("{} (IDENTITY_ENDPOINT)", crate::text::inert(endpoint, false)),
        None => transport.imds_base(),
    };
    let which = match &environment.client_id {
        Some(client) => format!("user-assigned, client id {client}"),
        None => "system-assigned".to_string(),
    };
    let name = format!("managed identity ({which}) at {endpoint}");
    let retry = if named { context.retry() } else { RetryOptions::none() };
    let built = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id: environment.client_id.clone().map(UserAssignedId::ClientId),
        client_options: context.options(retry, Arc::new(transport)),
    }));
    let hint = match &environment.client_id {
        Some(_) => {
            "check that the identity with this client id (AZURE_CLIENT_ID) is assigned to this machine; \
                    unset AZURE_CLIENT_ID for the system-assigned identity"
        }
        None => {
            "check that this machine has a system-assigned identity, or set AZURE_CLIENT_ID to a \
                 user-assigned one"
        }
    };
    let mut source = match built {
        Ok(credential) => Source::local(name, credential, named, hint.to_string()),
        Err(e) if named => {
            return Err(AzureError::Configuration {
                message: format!("cannot use the {name}: {}", super::describe(&e)),
                hint: hint.into(),
            });
        }
        Err(e) => Source::unavailable(name, super::describe(&e)),
    };
    if !named {
        source.probe = Some(IMDS_PROBE);
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's names and whether each is decisive, for `environment` (building sends nothing).
    fn built(environment: &ChainEnvironment) -> Result<Vec<(String, bool)>, AzureError> {
        let http = crate::tls::Trust::load(None).unwrap().http_client_builder().unwrap().build().unwrap();
        let backoff = Backoff::default();
        let context = Context {
            authority_host: "https://login.microsoftonline.com",
            http: &http,
            imds_http: &http,
            backoff: &backoff,
        };
        Ok(chain(environment, &context)?.into_iter().map(|s| (s.name, s.decisive)).collect())
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "3c9f1e2d-8b7a-4c6d-a5e4-f3b2c1d0e9f8";

    #[test]
    fn the_chain_follows_the_environment_and_the_selection() {
        let secret = ChainEnvironment {
            tenant_id: Some(TENANT.into()),
            client_id: Some(CLIENT.into()),
            client_secret: Some(Secret::new("s")),
            ..Default::default()
        };
        let chain = built(&secret).unwrap();
        let names: Vec<&str> = chain.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names[0].starts_with("service principal") && chain[0].1, "{names:?}");
        assert!(
            names[1].starts_with(&format!("managed identity (user-assigned, client id {CLIENT}) at http://169.254"))
        );
        assert_eq!(names[2..], [format!("az CLI (tenant {TENANT})"), format!("azd (tenant {TENANT})")]);
        assert!(chain[1..].iter().all(|(_, decisive)| !decisive), "{chain:?}");

        let dev = ChainEnvironment { token_credentials: Some("dev".into()), ..secret.clone() };
        assert_eq!(built(&dev).unwrap().len(), 2);
        let named = ChainEnvironment { token_credentials: Some("AzureDeveloperCliCredential".into()), ..secret };
        assert_eq!(built(&named).unwrap(), [(format!("azd (tenant {TENANT})"), true)]);

        let nothing =
            ChainEnvironment { token_credentials: Some("EnvironmentCredential".into()), ..Default::default() };
        let error = built(&nothing).unwrap_err().to_string();
        assert!(error.contains("neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH"), "{error}");
        let untenanted = ChainEnvironment {
            client_id: Some(CLIENT.into()),
            client_certificate_path: Some("/nowhere.pem".into()),
            ..Default::default()
        };
        let error = built(&untenanted).unwrap_err().to_string();
        assert_eq!(error, "AZURE_CLIENT_CERTIFICATE_PATH is set but AZURE_TENANT_ID is not");
        let system = built(&ChainEnvironment::default()).unwrap();
        assert!(system[0].0.starts_with("managed identity (system-assigned)"), "{system:?}");
        assert_eq!(system[1].0, "az CLI (its default tenant)");
    }

    #[test]
    fn token_credentials_select_as_in_the_other_sdks() {
        assert_eq!(Selection::parse(None).unwrap(), Selection::Every);
        assert_eq!(Selection::parse(Some(" ")).unwrap(), Selection::Every);
        assert_eq!(Selection::parse(Some("DEV")).unwrap(), Selection::Dev);
        assert_eq!(Selection::parse(Some("prod")).unwrap(), Selection::Prod);
        assert_eq!(Selection::parse(Some("azureclicredential")).unwrap(), Selection::Only(Kind::AzureCli));
        let dev: Vec<Kind> = Kind::ALL.into_iter().filter(|k| Selection::Dev.includes(*k)).collect();
        assert_eq!(dev, [Kind::AzureCli, Kind::AzureDeveloperCli]);
        let prod: Vec<Kind> = Kind::ALL.into_iter().filter(|k| Selection::Prod.includes(*k)).collect();
        assert_eq!(prod, [Kind::Environment, Kind::WorkloadIdentity, Kind::ManagedIdentity]);
        let error = Selection::parse(Some("DeveloperToolsCredential\u{1b}[2J")).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("AZURE_TOKEN_CREDENTIALS is 'DeveloperToolsCredential"), "{text}");
        assert!(text.contains("dev, prod, EnvironmentCredential") && !text.contains('\u{1b}'), "{text}");
        assert!(error.hint().is_some());
    }
}
