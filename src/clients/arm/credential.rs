//! Microsoft Entra ID tokens for ARM. azure_identity 1.x has no `DefaultAzureCredential`, so this is
//! migprep's own small chain, in the order the Azure SDKs use: a service principal from
//! `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`, workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, then developer tools (az CLI, azd).
//!
//! A source the environment configured explicitly (the first two) is decisive: if it fails, that
//! failure is the answer, because falling through to, say, the az CLI would act as another identity
//! than the one the user chose. Every HTTP request goes through the reqwest client the caller built
//! (it trusts the extra CA). Tokens are cached here until shortly before they expire, because the
//! developer-tool sources start a process per request. Nothing here prints a secret or a token.

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions, DeveloperToolsCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use super::{AzureError, Backoff};
use crate::secret::Secret;

/// Which identity to use for ARM.
#[derive(Clone, Debug)]
pub enum Credential {
    /// The chain described in the module docs, with what the environment configures for it.
    Chain(ChainEnvironment),
    /// One service principal, given directly (tests and callers that read it elsewhere).
    ServicePrincipal { tenant_id: String, client_id: String, client_secret: Secret },
}

impl Default for Credential {
    fn default() -> Self {
        Credential::Chain(ChainEnvironment::default())
    }
}

/// What the environment says about the chain's first links: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
/// `AZURE_CLIENT_SECRET` for a service principal; `AZURE_FEDERATED_TOKEN_FILE` for workload identity.
#[derive(Clone, Debug, Default)]
pub struct ChainEnvironment {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub federated_token_file: Option<String>,
}

/// Refresh a cached token this long before it expires, so a request never carries a dying token.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

struct Source {
    /// How the source is named in messages, e.g. `service principal 3c9f… (AZURE_CLIENT_SECRET)`.
    name: String,
    credential: Arc<dyn TokenCredential>,
    /// Explicitly configured: its failure ends the search.
    decisive: bool,
    hint: &'static str,
}

/// A token source for one scope, with a cache.
pub(super) struct Tokens {
    sources: Vec<Source>,
    scope: String,
    state: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    cached: Option<(Secret, OffsetDateTime)>,
    /// The source that worked last, tried first next time.
    chosen: Option<usize>,
    /// Who the last token says its holder is (tenant, object id, kind), for the plan's header.
    holder: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Tokens").field("sources", &names).field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Builds the sources; nothing is requested yet.
    pub(super) fn new(
        credential: &Credential,
        authority_host: &str,
        scope: String,
        http: &reqwest::Client,
        imds_http: &reqwest::Client,
        backoff: &Backoff,
    ) -> Result<Tokens, AzureError> {
        let options = |retry: RetryOptions, http: reqwest::Client| {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = authority_host.to_string();
            ClientOptions {
                transport: Some(Transport::new(Arc::new(http))),
                retry,
                cloud: Some(Arc::new(CloudConfiguration::from(custom))),
                ..Default::default()
            }
        };
        // azure_core retries connection failures too, TLS trust failures included; keep that short
        // so a missing `ca_file` is reported in seconds, not minutes.
        let retry = || {
            RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: to_time(backoff.initial_delay),
                max_retries: backoff.max_attempts.saturating_sub(1).min(3),
                max_total_elapsed: to_time(Duration::from_secs(30)),
                max_delay: to_time(backoff.max_delay.min(Duration::from_secs(5))),
            })
        };
        let setup =
            |what: &str, e: azure_core::Error| AzureError::Setup(format!("cannot set up the {what} credential: {e}"));
        let service_principal = |tenant: &str, client: &str, secret: &Secret, from_env: bool| {
            let credential = ClientSecretCredential::new(
                tenant,
                client.to_string(),
                azure_core::credentials::Secret::new(secret.expose().to_string()),
                Some(ClientSecretCredentialOptions { client_options: options(retry(), http.clone()) }),
            )
            .map_err(|e| setup("service principal", e))?;
            Ok::<_, AzureError>(Source {
                name: format!(
                    "service principal {client} in tenant {tenant}{}",
                    if from_env { " (AZURE_CLIENT_SECRET)" } else { "" }
                ),
                credential,
                decisive: true,
                hint: "check the client secret: it must be the secret's value (not its id) and \
                       not expired, for that application in that tenant",
            })
        };

        let mut sources = Vec::new();
        match credential {
            Credential::ServicePrincipal { tenant_id, client_id, client_secret } => {
                sources.push(service_principal(tenant_id, client_id, client_secret, false)?)
            }
            Credential::Chain(environment) => {
                if let (Some(tenant), Some(client), Some(secret)) =
                    (&environment.tenant_id, &environment.client_id, &environment.client_secret)
                {
                    sources.push(service_principal(tenant, client, secret, true)?);
                } else if environment.federated_token_file.is_some() {
                    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                        credential_options: ClientAssertionCredentialOptions {
                            client_options: options(retry(), http.clone()),
                        },
                        ..Default::default()
                    }))
                    .map_err(|e| setup("workload identity", e))?;
                    sources.push(Source {
                        name: "workload identity (AZURE_FEDERATED_TOKEN_FILE)".into(),
                        credential,
                        decisive: true,
                        hint: "check the federated credential of the application \
                               (AZURE_CLIENT_ID) and the token file",
                    });
                } else {
                    // Off Azure, the instance metadata endpoint does not answer: `imds_http` gives up
                    // quickly, and without retries the developer tools get their turn soon.
                    let probe = imds_http.clone();
                    if let Ok(credential) = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                        client_options: options(RetryOptions::none(), probe),
                        ..Default::default()
                    })) {
                        sources.push(Source { name: "managed identity".into(), credential, decisive: false, hint: "" });
                    }
                    let credential = DeveloperToolsCredential::new(None).map_err(|e| setup("developer tools", e))?;
                    sources.push(Source {
                        name: "developer tools (az CLI, azd)".into(),
                        credential,
                        decisive: false,
                        hint: "",
                    });
                }
            }
        }
        Ok(Tokens { sources, scope, state: tokio::sync::Mutex::new(Cache::default()) })
    }

    /// Who the tokens are for: the source that gave the last one, or `None` before any was asked for.
    pub(super) async fn identity(&self) -> Option<String> {
        let state = self.state.lock().await;
        let name = &self.sources[state.chosen?].name;
        Some(match &state.holder {
            Some(holder) => format!("{name}: {holder}"),
            None => name.clone(),
        })
    }

    /// Forgets the cached token (ARM said it expired).
    pub(super) async fn invalidate(&self) {
        self.state.lock().await.cached = None;
    }

    /// A bearer token for the scope.
    pub(super) async fn token(&self) -> Result<Secret, AzureError> {
        let mut state = self.state.lock().await;
        if let Some((token, expires)) = &state.cached
            && *expires - to_time(EXPIRY_MARGIN) > OffsetDateTime::now_utc()
        {
            return Ok(token.clone());
        }
        let order: Vec<usize> = match state.chosen {
            Some(i) => vec![i],
            None => (0..self.sources.len()).collect(),
        };
        let mut tried = Vec::new();
        for index in order {
            let source = &self.sources[index];
            match source.credential.get_token(&[&self.scope], None).await {
                Ok(token) => {
                    let secret = Secret::new(token.token.secret());
                    state.holder = holder(token.token.secret());
                    state.cached = Some((secret.clone(), token.expires_on));
                    state.chosen = Some(index);
                    return Ok(secret);
                }
                Err(error) if (source.decisive || state.chosen.is_some()) && !refused(&error) => {
                    return Err(AzureError::TokenUnreachable {
                        source_name: source.name.clone(),
                        detail: describe(&error),
                    });
                }
                Err(error) if source.decisive || state.chosen.is_some() => {
                    return Err(AzureError::Authentication {
                        source_name: source.name.clone(),
                        detail: describe(&error),
                        hint: if source.hint.is_empty() { None } else { Some(source.hint.to_string()) },
                    });
                }
                Err(error) => tried.push(format!("{}: {}", source.name, describe(&error))),
            }
        }
        Err(AzureError::NoCredentials { tried })
    }
}

/// Who an Entra access token was issued to, from its claims (`tid`, `oid`, `idtyp`, `upn` or `appid`),
/// for display only: the token is not verified here, ARM does that. `None` for a token that is not a
/// JWT, which Entra's are.
fn holder(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&azure_core::base64::decode_url_safe(payload).ok()?).ok()?;
    let text = |name: &str| {
        claims.get(name).and_then(serde_json::Value::as_str).map(|v| crate::text::inert(v, false).into_owned())
    };
    let tenant = text("tid")?;
    let object = text("oid").unwrap_or_else(|| "unknown".into());
    let kind = match (text("idtyp").as_deref(), text("upn").or_else(|| text("unique_name"))) {
        (_, Some(user)) => format!("user {user}"),
        (Some("app"), _) | (None, None) => {
            format!("application {}", text("appid").or_else(|| text("azp")).unwrap_or_default())
        }
        (Some(other), None) => other.to_string(),
    };
    Some(format!("{kind}, object {object} in tenant {tenant}"))
}

/// Whether Entra ID answered and said no, as opposed to not being reached at all.
fn refused(error: &azure_core::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(inner) = e.downcast_ref::<azure_core::Error>()
            && matches!(inner.kind(), ErrorKind::HttpResponse { .. })
        {
            return true;
        }
        current = e.source();
    }
    false
}

fn to_time(d: Duration) -> azure_core::time::Duration {
    azure_core::time::Duration::try_from(d).unwrap_or(azure_core::time::Duration::MAX)
}

/// One line from an azure_identity error: Entra's `AADSTS…` description without its trace ids and
/// troubleshooting links, or the innermost message.
fn describe(error: &azure_core::Error) -> String {
    // The credential wraps the HTTP error; the innermost message is Entra's own description.
    let mut innermost: &dyn std::error::Error = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let text = innermost.to_string();
    let text = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let text = text.split(" Trace ID:").next().unwrap_or(text).trim();
    if text.is_empty() { error.to_string().lines().next().unwrap_or("").to_string() } else { text.to_string() }
}
