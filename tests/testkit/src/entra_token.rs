//! The access tokens the fake Entra ID endpoint issues: shaped like Entra's JWTs (header, claims and
//! signature, base64url, dot-separated) with the claims a resource checks (`aud`, `iss`, `tid`, `oid`,
//! `appid`, `iat`, `nbf`, `exp`) and a unique token id (`uti`), so no two tokens are alike, but signed with HMAC-SHA256 under a key the fake and the database
//! gateway share, so the gateway can tell a token the fake issued from a forged, altered or expired one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The claims of one token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The resource, without `/.default`: `https://management.azure.com`, or
    /// `https://ossrdbms-aad.database.windows.net` for PostgreSQL.
    pub aud: String,
    pub iss: String,
    /// The tenant.
    pub tid: String,
    /// The principal's object id.
    pub oid: String,
    /// The application (client) id.
    pub appid: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// A unique token id.
    pub uti: String,
    /// A user's sign-in name, in tokens issued to a user (the az CLI's login); absent for applications
    /// and managed identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
}

impl Claims {
    /// Claims valid from now for `lifetime`.
    pub fn new(aud: &str, tenant: &str, oid: &str, appid: &str, lifetime: Duration) -> Self {
        let now = unix(SystemTime::now());
        Self {
            aud: aud.trim_end_matches('/').to_string(),
            iss: format!("https://sts.windows.net/{tenant}/"),
            tid: tenant.to_string(),
            oid: oid.to_string(),
            appid: appid.to_string(),
            iat: now,
            nbf: now,
            exp: now + lifetime.as_secs(),
            uti: uuid::Uuid::new_v4().simple().to_string(),
            upn: None,
        }
    }
}

/// Why a token is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not three base64url parts with JSON in them.
    Malformed,
    /// The signature is not the key's (altered, or issued by someone else).
    Signature,
    /// `exp` has passed, or `nbf` has not come yet.
    Expired,
}

/// The shared signing key.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(key)
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signed = format!("{header}.{body}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(signed.as_bytes()).finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims of a token this key signed, valid at `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, Invalid> {
        let (signed, signature) = token.rsplit_once('.').ok_or(Invalid::Malformed)?;
        let (_header, body) = signed.split_once('.').ok_or(Invalid::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Invalid::Malformed)?;
        self.mac(signed.as_bytes()).verify_slice(&signature).map_err(|_| Invalid::Signature)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Invalid::Malformed)?;
        let claims: Claims = serde_json::from_slice(&body).map_err(|_| Invalid::Malformed)?;
        let now = unix(now);
        if now >= claims.exp || now < claims.nbf {
            return Err(Invalid::Expired);
        }
        Ok(claims)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(data);
        mac
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(lifetime: Duration) -> Claims {
        Claims::new("https://ossrdbms-aad.database.windows.net/", "tenant", "oid", "app", lifetime)
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(Duration::from_secs(3600)));
        assert_eq!(token.split('.').count(), 3);
        let verified = key.verify(&token, SystemTime::now()).unwrap();
        assert_eq!(verified.aud, "https://ossrdbms-aad.database.windows.net");
        let later = SystemTime::now() + Duration::from_secs(3601);
        assert_eq!(key.verify(&token, later), Err(Invalid::Expired));
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(Duration::from_secs(3600)));
        assert_eq!(TokenKey::generate().verify(&token, SystemTime::now()), Err(Invalid::Signature));
        // Another audience pasted into the claims: the signature no longer matches.
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Claims { aud: "x".into(), ..claims(Duration::ZERO) }).unwrap());
        assert_eq!(key.verify(&format!("{header}.{forged}.{signature}"), SystemTime::now()), Err(Invalid::Signature));
        assert_eq!(key.verify("not-a-token", SystemTime::now()), Err(Invalid::Malformed));
    }
}
