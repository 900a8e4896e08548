//! Checking a token the way the services do before they let a login in.
//!
//! RDS IAM: the token is `host:port/?Action=connect&DBUser=…&X-Amz-…`, a SigV4 query-string presigned
//! GET for the service `rds-db`. The gateway signs the request it expects (its own host and port, the
//! user of the startup message) with the test credentials, at the token's `X-Amz-Date` and for its
//! `X-Amz-Expires`, and compares signatures; then it checks the credential scope, the action and the
//! validity window (at most 900 s, as RDS allows).
//!
//! Entra: the token must be one the fake token endpoint signed ([`crate::entra_token`]), for the
//! PostgreSQL resource, in the tenant, from the principal the database role was created for, and not
//! expired.

use super::Refusal;
use crate::entra_token::{Invalid, TokenKey};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// The audience of Entra tokens for Azure Database for PostgreSQL.
pub const DATABASE_AUDIENCE: &str = "https://ossrdbms-aad.database.windows.net";

/// How long RDS accepts a token at most.
const LONGEST_IAM_LIFETIME: u64 = 900;

/// What an accepted token says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// When the token was made (`X-Amz-Date`, or `iat`).
    pub issued: SystemTime,
}

/// The credentials and place RDS IAM tokens must be signed for.
#[derive(Clone, Debug)]
pub struct IamCheck {
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Who may log in with Entra tokens.
#[derive(Clone)]
pub struct EntraCheck {
    pub key: TokenKey,
    pub tenant: String,
    /// Database role → the application (client) id of the principal it was created for.
    pub principals: BTreeMap<String, String>,
}

impl IamCheck {
    /// Accepts `token` for `user` at `host:port` at time `now`.
    pub fn verify(&self, token: &str, host: &str, port: u16, user: &str, now: SystemTime) -> Result<Accepted, Refusal> {
        let (authority, query) = token.split_once("/?").ok_or(Refusal::NotAToken)?;
        if authority != format!("{host}:{port}") {
            return Err(Refusal::WrongEndpoint);
        }
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let field = |name: &str| pairs.get(name).map(String::as_str).ok_or(Refusal::NotAToken);
        if field("Action")? != "connect" || field("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
            return Err(Refusal::NotAToken);
        }
        if field("DBUser")? != user {
            return Err(Refusal::WrongUser);
        }
        let date = field("X-Amz-Date")?;
        let issued = parse_amz_date(date).ok_or(Refusal::NotAToken)?;
        let expires: u64 = field("X-Amz-Expires")?.parse().map_err(|_| Refusal::NotAToken)?;
        let scope =
            format!("{}/{}/{}/rds-db/aws4_request", self.access_key_id, &date[..8.min(date.len())], self.region);
        if field("X-Amz-Credential")? != scope {
            return Err(Refusal::Signature);
        }
        let expected = self.signature(host, port, user, issued, expires).ok_or(Refusal::NotAToken)?;
        if field("X-Amz-Signature")? != expected {
            return Err(Refusal::Signature);
        }
        // RDS refuses a token that claims more than 15 minutes, and one used after its window.
        if expires > LONGEST_IAM_LIFETIME || now > issued + Duration::from_secs(expires) {
            return Err(Refusal::Expired);
        }
        // Nor one made in the future (beyond a little clock skew).
        if issued > now + Duration::from_secs(300) {
            return Err(Refusal::Expired);
        }
        Ok(Accepted { issued })
    }

    /// The signature of the presigned `connect` request for these values, as RDS computes it.
    fn signature(&self, host: &str, port: u16, user: &str, time: SystemTime, expires: u64) -> Option<String> {
        let credentials =
            aws_credential_types::Credentials::new(&self.access_key_id, &self.secret_access_key, None, None, "gateway");
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.expires_in = Some(Duration::from_secs(expires));
        settings.signature_location = SignatureLocation::QueryParams;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("rds-db")
            .time(time)
            .settings(settings)
            .build()
            .ok()?;
        let url = format!("https://{host}:{port}/?Action=connect&DBUser={}", encode(user));
        let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty()).ok()?;
        let (instructions, _) = sign(request, &params.into()).ok()?.into_parts();
        instructions.params().iter().find(|(name, _)| *name == "X-Amz-Signature").map(|(_, value)| value.to_string())
    }
}

impl EntraCheck {
    /// Accepts `token` for the database role `user` at time `now`.
    pub fn verify(&self, token: &str, user: &str, now: SystemTime) -> Result<Accepted, Refusal> {
        let claims = self.key.verify(token, now).map_err(|invalid| match invalid {
            Invalid::Malformed => Refusal::NotAToken,
            Invalid::Signature => Refusal::Signature,
            Invalid::Expired => Refusal::Expired,
        })?;
        if claims.aud.trim_end_matches('/') != DATABASE_AUDIENCE {
            return Err(Refusal::WrongAudience);
        }
        if claims.tid != self.tenant {
            return Err(Refusal::WrongTenant);
        }
        match self.principals.get(user) {
            Some(appid) if *appid == claims.appid => {}
            _ => return Err(Refusal::WrongUser),
        }
        Ok(Accepted { issued: SystemTime::UNIX_EPOCH + Duration::from_secs(claims.iat) })
    }
}

/// `20240131T235959Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = time::PrimitiveDateTime::parse(text, format).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(parsed.unix_timestamp()).ok()?))
}

/// Query-string encoding as the SDK's URL builder applies it to the user name.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> IamCheck {
        IamCheck { region: "us-east-1".into(), access_key_id: "testing".into(), secret_access_key: "testing".into() }
    }

    /// A token as the SDK's generator makes it, signed at `time` with `secret`.
    pub(crate) fn token(secret: &str, host: &str, port: u16, user: &str, time: SystemTime, expires: u64) -> String {
        let check = IamCheck { secret_access_key: secret.into(), ..check() };
        let signature = check.signature(host, port, user, time, expires).unwrap();
        let date = time::OffsetDateTime::from(time)
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap();
        format!(
            "{host}:{port}/?Action=connect&DBUser={user}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testing%2F{day}%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
            day = &date[..8]
        )
    }

    fn whole_second(time: SystemTime) -> SystemTime {
        let secs = time.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_token_for_this_login_verifies_within_its_window() {
        let now = whole_second(SystemTime::now());
        let good = token("testing", "127.0.0.1", 6432, "postgres", now, 900);
        assert_eq!(check().verify(&good, "127.0.0.1", 6432, "postgres", now), Ok(Accepted { issued: now }));
        let later = now + Duration::from_secs(901);
        assert_eq!(check().verify(&good, "127.0.0.1", 6432, "postgres", later), Err(Refusal::Expired));
    }

    #[test]
    fn wrong_key_place_user_or_alteration_is_refused() {
        let now = whole_second(SystemTime::now());
        let verify = |token: &str| check().verify(token, "127.0.0.1", 6432, "postgres", now);
        assert_eq!(verify(&token("other-key", "127.0.0.1", 6432, "postgres", now, 900)), Err(Refusal::Signature));
        assert_eq!(verify(&token("testing", "127.0.0.1", 5432, "postgres", now, 900)), Err(Refusal::WrongEndpoint));
        assert_eq!(verify(&token("testing", "127.0.0.1", 6432, "migrator", now, 900)), Err(Refusal::WrongUser));
        assert_eq!(verify(&token("testing", "127.0.0.1", 6432, "postgres", now, 3600)), Err(Refusal::Expired));
        let good = token("testing", "127.0.0.1", 6432, "postgres", now, 900);
        // A longer window written over the signed one.
        assert_eq!(verify(&good.replace("X-Amz-Expires=900", "X-Amz-Expires=899")), Err(Refusal::Signature));
        let mut flipped = good.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(verify(&flipped), Err(Refusal::Signature));
        assert_eq!(verify("hunter2"), Err(Refusal::NotAToken));
    }
}
