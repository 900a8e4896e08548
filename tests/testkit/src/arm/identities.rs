//! The identities the fake Entra ID knows besides the application's client secret, each registered by a
//! test: certificates of the application (client assertions signed with their keys are accepted, see
//! `routes::token`), federated tokens (workload identity: the exact token a pod would present), managed
//! identities (system-assigned, or user-assigned by client id, answered at the IMDS and App Service
//! paths, see `routes::managed_identity`), and tokens minted for a developer tool's login (the fake `az`
//! prints them). Every token handed out is recorded as a [`Grant`], so a test can tell which credential
//! was used.

use super::FakeArm;
use super::Shared;
use super::model::{IssuedToken, TOKEN_LIFETIME};
use crate::entra_token::Claims;
use anyhow::{Context, Result};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a test registered.
#[derive(Default)]
pub(crate) struct Registered {
    /// DER certificates of the application (`client_id` of the fake).
    pub certificates: Vec<Vec<u8>>,
    /// Federated tokens the application trusts, exactly as presented.
    pub federated_tokens: Vec<String>,
    /// Managed identities: `None` is the system-assigned one; with their object ids.
    pub managed_identities: Vec<(Option<String>, String)>,
    /// The secret App Service's endpoint expects in `X-IDENTITY-HEADER`.
    pub identity_header: Option<String>,
}

/// One token handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `client_secret`, `client_certificate`, `federated_token`, `managed_identity` or `minted`.
    pub kind: &'static str,
    /// The application or managed identity's client id, or the user's name for a minted token.
    pub principal: String,
    /// The audience the token is for.
    pub audience: String,
}

/// A token minted for a developer tool, with its expiry (Unix seconds), as `az` prints it.
#[derive(Clone, Debug)]
pub struct MintedToken {
    pub token: String,
    pub expires_on: u64,
}

/// Signs and records a token for `audience` (no `/.default`), issued to `appid`/`oid`.
pub(crate) fn issue(shared: &Shared, audience: &str, claims: Claims, grant: Grant) -> String {
    let token = shared.token_key.sign(&claims);
    let mut state = shared.state();
    state.tokens.insert(
        token.clone(),
        IssuedToken { issued: Instant::now(), audience: audience.trim_end_matches('/').to_owned() },
    );
    state.grants.push(grant);
    token
}

impl FakeArm {
    /// Registers a certificate (PEM) of the application: client assertions signed with its key are
    /// accepted from now on.
    pub fn register_certificate(&self, certificate_pem: &[u8]) -> Result<()> {
        let certificate = openssl::x509::X509::from_pem(certificate_pem).context("parsing the certificate")?;
        let der = certificate.to_der().context("encoding the certificate")?;
        self.shared.state().identities.certificates.push(der);
        Ok(())
    }

    /// Registers a federated token (workload identity): presented as a client assertion by the
    /// application, it is accepted.
    pub fn register_federated_token(&self, token: &str) {
        self.shared.state().identities.federated_tokens.push(token.to_string());
    }

    /// Registers a managed identity, user-assigned with `client_id` or system-assigned with `None`;
    /// returns its object id.
    pub fn register_managed_identity(&self, client_id: Option<&str>) -> String {
        let object_id = uuid::Uuid::new_v4().to_string();
        self.shared.state().identities.managed_identities.push((client_id.map(str::to_string), object_id.clone()));
        object_id
    }

    /// Makes the App Service managed identity endpoint (`{endpoint}/msi/token`) demand this
    /// `X-IDENTITY-HEADER`.
    pub fn set_identity_header(&self, secret: &str) {
        self.shared.state().identities.identity_header = Some(secret.to_string());
    }

    /// The App Service managed identity endpoint (`IDENTITY_ENDPOINT`).
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.shared.endpoint)
    }

    /// A token for `audience` issued to the user `upn` in the fake's tenant, as `az login` would hold,
    /// accepted by the fake ARM.
    pub fn mint_user_token(&self, audience: &str, upn: &str) -> MintedToken {
        let object_id = uuid::Uuid::new_v4().to_string();
        let mut claims = Claims::new(audience, &self.shared.tenant_id, &object_id, AZ_CLI_APP_ID, TOKEN_LIFETIME);
        claims.upn = Some(upn.to_string());
        let expires_on = claims.exp;
        let grant = Grant { kind: "minted", principal: upn.to_string(), audience: audience.to_string() };
        MintedToken { token: issue(&self.shared, audience, claims, grant), expires_on }
    }

    /// Every token handed out so far.
    pub fn grants(&self) -> Vec<Grant> {
        self.shared.state().grants.clone()
    }
}

/// The az CLI's own application id, the `appid` of tokens it gets for a user.
const AZ_CLI_APP_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Now, in Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
