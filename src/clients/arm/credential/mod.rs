//! Microsoft Entra ID tokens for ARM. azure_identity 1.x has no `DefaultAzureCredential`, so this is
//! migprep's own chain ([`sources`]), in the order the Azure SDKs use: the environment's service principal
//! (a client secret or a client certificate), workload identity, managed identity, the az CLI, azd, and
//! `AZURE_TOKEN_CREDENTIALS` narrows it as it does there.
//!
//! A source the environment configured explicitly, or the one `AZURE_TOKEN_CREDENTIALS` names, is
//! decisive: if it fails, that failure is the answer, because falling through to, say, the az CLI would
//! act as another identity than the one the user chose. When every source of the chain fails, each one's
//! own message is reported. Every HTTP request goes through the reqwest client the caller built (it
//! trusts the extra CA). Tokens are cached here until shortly before they expire, because the
//! developer-tool sources start a process per request. Nothing here prints a secret or a token.

mod certificate;
mod imds;
mod sources;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;

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

/// What the environment says about the chain (each field is the variable of the same name).
#[derive(Clone, Debug, Default)]
pub struct ChainEnvironment {
    /// `AZURE_TENANT_ID`: the service principal's tenant, and the tenant the az CLI and azd are asked for.
    pub tenant_id: Option<String>,
    /// `AZURE_CLIENT_ID`: the application, or without a secret, certificate or federated token, the
    /// user-assigned managed identity.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_certificate_path: Option<PathBuf>,
    pub client_certificate_password: Option<Secret>,
    pub federated_token_file: Option<String>,
    /// `AZURE_TOKEN_CREDENTIALS`: `dev`, `prod` or one credential's name.
    pub token_credentials: Option<String>,
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`: where the instance metadata endpoint is, instead of
    /// `http://169.254.169.254`.
    pub imds_authority_host: Option<String>,
    /// `IDENTITY_ENDPOINT` (App Service, Container Apps), for naming the managed identity; azure_identity
    /// reads it, and `IDENTITY_HEADER`, itself.
    pub identity_endpoint: Option<String>,
    /// The spec's `target.tenant`: the az CLI and azd are asked for it (before `AZURE_TENANT_ID`), and
    /// every token must be for it.
    pub tenant: Option<String>,
}

/// Refresh a cached token this long before it expires, so a request never carries a dying token.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

struct Source {
    /// How the source is named in messages and the plan's header, e.g.
    /// `service principal 3c9f… in tenant 72f9… (AZURE_CLIENT_SECRET)`.
    name: String,
    /// `Err` with the reason when it cannot be used here at all (e.g. a managed identity flavour
    /// azure_identity does not support).
    credential: Result<Arc<dyn TokenCredential>, String>,
    /// Explicitly configured: its failure ends the search.
    decisive: bool,
    hint: String,
    /// Answered by something other than Microsoft Entra ID (a developer tool, a managed identity
    /// endpoint), so a failure is not "Entra ID refused".
    local: bool,
    /// In the chain, how long its first request may take before the next source is tried.
    probe: Option<Duration>,
}

impl Source {
    fn entra(name: String, credential: Arc<dyn TokenCredential>, decisive: bool, hint: &str) -> Self {
        Self { name, credential: Ok(credential), decisive, hint: hint.to_string(), local: false, probe: None }
    }

    fn local(name: String, credential: Arc<dyn TokenCredential>, decisive: bool, hint: String) -> Self {
        Self { name, credential: Ok(credential), decisive, hint, local: true, probe: None }
    }

    fn unavailable(name: String, reason: String) -> Self {
        Self { name, credential: Err(reason), decisive: false, hint: String::new(), local: true, probe: None }
    }

    /// A token, or the error and whether the source failed without Entra ID (or the tool) answering.
    async fn get(&self, scope: &str, probing: bool) -> Result<azure_core::credentials::AccessToken, Failure> {
        let credential =
            self.credential.as_ref().map_err(|reason| Failure { detail: reason.clone(), answered: false })?;
        let scopes = [scope];
        let request = credential.get_token(&scopes, None);
        let outcome = match self.probe.filter(|_| probing) {
            Some(limit) => match tokio::time::timeout(limit, request).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(Failure {
                        detail: format!("no answer within {}s (not on Azure?)", limit.as_secs()),
                        answered: false,
                    });
                }
            },
            None => request.await,
        };
        outcome.map_err(|error| Failure { detail: describe(&error), answered: self.local || refused(&error) })
    }
}

struct Failure {
    detail: String,
    /// The service (or tool) answered and said no, as opposed to not being reached.
    answered: bool,
}

/// A token source for one scope, with a cache.
pub(super) struct Tokens {
    sources: Vec<Source>,
    scope: String,
    /// The only tenant a token may be for (the spec's `target.tenant`).
    tenant: Option<String>,
    state: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    cached: Option<(Secret, OffsetDateTime)>,
    /// The source that worked last, tried first next time.
    chosen: Option<usize>,
    /// Who the last token says its holder is (tenant, object id, kind), for the plan's header.
    holder: Option<String>,
    /// Why no source gave a first token: given again to every later caller, so a chain that failed (a
    /// developer tool that takes a second to say no, a managed identity endpoint that retries) is tried
    /// once per run, not once per concurrent request.
    failed: Option<AzureError>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Tokens").field("sources", &names).field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl Tokens {
    /// Builds the sources; nothing is requested yet (a client certificate is read and checked now).
    pub(super) fn new(
        credential: &Credential,
        authority_host: &str,
        scope: String,
        http: &reqwest::Client,
        imds_http: &reqwest::Client,
        backoff: &Backoff,
    ) -> Result<Tokens, AzureError> {
        let context = sources::Context { authority_host, http, imds_http, backoff };
        let (sources, tenant) = match credential {
            Credential::ServicePrincipal { tenant_id, client_id, client_secret } => {
                (vec![context.service_principal(tenant_id, client_id, client_secret, false)?], None)
            }
            Credential::Chain(environment) => (sources::chain(environment, &context)?, environment.tenant.clone()),
        };
        Ok(Tokens { sources, scope, tenant, state: tokio::sync::Mutex::new(Cache::default()) })
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

    /// The tenant (`tid`) of the last token, as a UUID; `None` before any token or when it has none.
    pub(super) async fn tenant(&self) -> Option<String> {
        let state = self.state.lock().await;
        let (token, _) = state.cached.as_ref()?;
        let tid = claims(token.expose())?.get("tid")?.as_str()?.to_owned();
        uuid::Uuid::parse_str(&tid).ok().map(|id| id.hyphenated().to_string())
    }

    /// Why `token` may not be used: its tenant (`tid`) is not the spec's. Nothing is said of a token that
    /// is not a JWT or has no `tid`: ARM checks those.
    fn wrong_tenant(&self, token: &str) -> Option<String> {
        let expected = self.tenant.as_deref()?;
        let tid = claims(token)?.get("tid")?.as_str()?.to_owned();
        (!tid.eq_ignore_ascii_case(expected)).then(|| {
            format!(
                "its token is for tenant {}, but the spec's target.tenant is {expected}; nothing was sent to ARM",
                crate::text::inert(&tid, false)
            )
        })
    }

    /// Forgets the cached token (ARM said it expired).
    pub(super) async fn invalidate(&self) {
        self.state.lock().await.cached = None;
    }

    /// A bearer token for the scope. A failure to get the first one is final for this run; a failure
    /// to renew one is not (the next request tries the source that worked again).
    pub(super) async fn token(&self) -> Result<Secret, AzureError> {
        let mut state = self.state.lock().await;
        if let Some(failed) = &state.failed {
            return Err(failed.clone());
        }
        if let Some((token, expires)) = &state.cached
            && *expires - to_time(EXPIRY_MARGIN) > OffsetDateTime::now_utc()
        {
            return Ok(token.clone());
        }
        let result = self.acquire(&mut state).await;
        if let Err(error) = &result
            && state.chosen.is_none()
        {
            state.failed = Some(error.clone());
        }
        result
    }

    /// Asks the source that worked last, or each source in turn until one gives a token.
    async fn acquire(&self, state: &mut Cache) -> Result<Secret, AzureError> {
        let order: Vec<usize> = match state.chosen {
            Some(i) => vec![i],
            None => (0..self.sources.len()).collect(),
        };
        let mut tried = Vec::new();
        for index in order {
            let source = &self.sources[index];
            match source.get(&self.scope, state.chosen.is_none()).await {
                Ok(token) => {
                    if let Some(wrong) = self.wrong_tenant(token.token.secret()) {
                        return Err(AzureError::CredentialFailed {
                            source_name: source.name.clone(),
                            detail: wrong,
                            hint: Some(format!(
                                "sign in to the subscription's tenant (`az login --tenant {0}`), or use an identity \
                                 of tenant {0}; if the subscription is in another tenant, correct target.tenant",
                                self.tenant.as_deref().unwrap_or_default()
                            )),
                        });
                    }
                    let secret = Secret::new(token.token.secret());
                    state.holder = holder(token.token.secret());
                    state.cached = Some((secret.clone(), token.expires_on));
                    state.chosen = Some(index);
                    return Ok(secret);
                }
                Err(failure) if (source.decisive || state.chosen.is_some()) && source.local => {
                    return Err(AzureError::CredentialFailed {
                        source_name: source.name.clone(),
                        detail: failure.detail,
                        hint: Some(source.hint.clone()).filter(|h| !h.is_empty()),
                    });
                }
                Err(failure) if (source.decisive || state.chosen.is_some()) && !failure.answered => {
                    return Err(AzureError::TokenUnreachable {
                        source_name: source.name.clone(),
                        detail: failure.detail,
                    });
                }
                Err(failure) if source.decisive || state.chosen.is_some() => {
                    return Err(AzureError::Authentication {
                        source_name: source.name.clone(),
                        detail: failure.detail,
                        hint: Some(source.hint.clone()).filter(|h| !h.is_empty()),
                    });
                }
                Err(failure) => tried.push(format!("{}: {}", source.name, failure.detail)),
            }
        }
        Err(AzureError::NoCredentials { tried })
    }
}

/// Who an Entra access token was issued to, from its claims (`tid`, `oid`, `idtyp`, `upn` or `appid`),
/// for display only: the token is not verified here, ARM does that. `None` for a token that is not a
/// JWT, which Entra's are.
fn holder(token: &str) -> Option<String> {
    let claims = claims(token)?;
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

/// The claims of a JWT, unverified.
fn claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&azure_core::base64::decode_url_safe(payload).ok()?).ok()
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
/// troubleshooting links, or the innermost message (a tool's whole stderr, its lines joined), escaped.
fn describe(error: &azure_core::Error) -> String {
    // The credential wraps the HTTP error; the innermost message is Entra's own description.
    let mut innermost: &dyn std::error::Error = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let text = innermost.to_string();
    let text = text.split(" Trace ID:").next().unwrap_or(&text);
    let text = if text.trim().is_empty() { error.to_string() } else { text.to_string() };
    // Troubleshooting links azure_identity appends add nothing a hint does not say.
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("To troubleshoot, visit")).collect();
    crate::text::inert(&lines.join(" "), false).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptions_are_one_full_escaped_line() {
        let error = azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            "ERROR: Please run 'az login' to setup account.\nERROR: second \u{1b}[31mline\n",
        );
        let text = super::describe(&error);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("setup account.") && text.contains("second"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
