//! Client assertions, checked as Entra ID checks them: a federated token is accepted only when a test
//! registered exactly that token (workload identity); otherwise the assertion must be a JWT signed
//! (RS256) with the key of a certificate registered for the application, named by its SHA-1 thumbprint in
//! `x5t`, for this token endpoint (`aud`), issued by and about the application (`iss` = `sub` = client
//! id) and not expired. Refusals carry Entra's codes (AADSTS700027 for an unknown certificate or a bad
//! signature, …).

use crate::arm::Shared;
use crate::arm::identities::now;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use serde_json::Value;

/// Why an assertion is refused: Entra's AADSTS code and description.
pub(super) struct Refused {
    pub code: u32,
    pub message: String,
}

fn refused(code: u32, message: impl Into<String>) -> Refused {
    Refused { code, message: message.into() }
}

/// Allowed clock skew, as Entra allows a few minutes.
const SKEW: u64 = 300;

/// Which kind of credential the assertion proves (`federated_token` or `client_certificate`).
pub(super) fn verify(shared: &Shared, assertion: &str, token_endpoint: &str) -> Result<&'static str, Refused> {
    let registered = {
        let state = shared.state();
        (state.identities.federated_tokens.clone(), state.identities.certificates.clone())
    };
    let (federated, certificates) = registered;
    if federated.iter().any(|token| token == assertion) {
        return Ok("federated_token");
    }
    let no_federation = |issuer: &str| {
        refused(
            700211,
            format!("No matching federated identity record found for presented assertion issuer '{issuer}'."),
        )
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(no_federation(""));
    };
    let decode = |part: &str| -> Option<Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok() };
    let (Some(header_json), Some(claims)) = (decode(header), decode(payload)) else {
        return Err(no_federation(""));
    };
    let text = |value: &Value, name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(x5t) = header_json.get("x5t").and_then(Value::as_str) else {
        return Err(no_federation(&text(&claims, "iss")));
    };
    let thumbprint = URL_SAFE_NO_PAD
        .decode(x5t.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(x5t))
        .map_err(|_| refused(700027, "Client assertion contains an invalid x5t header."))?;
    let certificate = certificates
        .iter()
        .filter_map(|der| X509::from_der(der).ok())
        .find(|cert| cert.digest(MessageDigest::sha1()).is_ok_and(|digest| digest.as_ref() == thumbprint.as_slice()));
    let Some(certificate) = certificate else {
        return Err(refused(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Entra ID, App registrations, and navigate to your application, then verify that the certificate is registered.]",
                hex_upper(&thumbprint)
            ),
        ));
    };
    if text(&header_json, "alg") != "RS256" {
        return Err(refused(700027, "Client assertion failed signature validation: the algorithm must be RS256."));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| refused(700027, "Client assertion failed signature validation."))?;
    let valid = certificate.public_key().ok().and_then(|key| {
        let mut verifier = Verifier::new(MessageDigest::sha256(), &key).ok()?;
        verifier.verify_oneshot(&signature, format!("{header}.{payload}").as_bytes()).ok()
    });
    if valid != Some(true) {
        return Err(refused(700027, "Client assertion failed signature validation."));
    }
    if !text(&claims, "aud").trim_end_matches('/').eq_ignore_ascii_case(token_endpoint) {
        return Err(refused(
            700212,
            format!("The audience of the client assertion is '{}', not this token endpoint.", text(&claims, "aud")),
        ));
    }
    if text(&claims, "iss") != shared.client_id || text(&claims, "sub") != shared.client_id {
        return Err(refused(700021, "Client assertion application identifier doesn't match 'client_id' parameter."));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_u64);
    let now = now();
    let expired = time("exp").is_none_or(|exp| exp + SKEW <= now);
    let early = time("nbf").is_some_and(|nbf| nbf > now + SKEW);
    if expired || early {
        return Err(refused(700024, "Client assertion is not within its valid time range."));
    }
    Ok("client_certificate")
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
