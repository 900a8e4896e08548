//! AWS Secrets Manager, for `password = { aws_secret = "…" [, key = "…"] }`: reads one secret with the
//! RDS client's credentials, region, HTTP client and endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), and takes the password out of it: a JSON object as RDS writes
//! its managed master passwords (`{"username": …, "password": …}`), or a plain string that is the
//! password itself.
//!
//! The secret's value never reaches an error: messages name the spec key and the secret, and say what
//! is wrong with its shape, not what it holds.

use crate::clients::rds::Rds;
use crate::error::UserError;
use crate::secret::Secret;
use aws_config::Region;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

/// The JSON key RDS stores a managed password under.
pub const DEFAULT_KEY: &str = "password";

/// Reads the password in secret `id` (an ARN or a name), as the spec's `key` names it.
pub async fn password(rds: &Rds, spec_key: &str, id: &str, json_key: Option<&str>) -> Result<Secret, UserError> {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(rds.sdk_config());
    // A secret's ARN names its region; a name is looked up in the cluster's.
    let region = arn_region(id).unwrap_or(rds.region()).to_string();
    config = config.region(Region::new(region.clone()));
    let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
    let named = format!("{spec_key}: secret {id} (region {region})");
    let answer = client.get_secret_value().secret_id(id).send().await.map_err(|e| read_error(&named, e))?;
    match (answer.secret_string(), answer.secret_binary()) {
        (Some(text), _) => extract(text, json_key).map_err(|problem| {
            UserError::new(format!("{named}: {problem}")).hint(format!(
                "point {spec_key} at a secret whose JSON has the password under \"{}\" (set key = \"…\" for another \
                 key), or at a plain-text secret",
                json_key.unwrap_or(DEFAULT_KEY)
            ))
        }),
        (None, Some(_)) => Err(UserError::new(format!("{named}: the secret is binary, not a string"))
            .hint("store the password as a string secret (plain text or JSON)")),
        (None, None) => Err(UserError::new(format!("{named}: the secret has no value"))
            .hint("put a value in the secret (aws secretsmanager put-secret-value)")),
    }
}

/// The password in a secret's text. A JSON object gives the string under `key` (default `password`);
/// anything else is the password itself, unless a key was asked for. Errors describe, never quote.
fn extract(text: &str, key: Option<&str>) -> Result<Secret, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => {
            let wanted = key.unwrap_or(DEFAULT_KEY);
            match object.get(wanted) {
                Some(serde_json::Value::String(password)) if !password.is_empty() => Ok(Secret::new(password.clone())),
                Some(serde_json::Value::String(_)) => Err(format!("the value under \"{wanted}\" is empty")),
                Some(_) => Err(format!("the value under \"{wanted}\" is not a string")),
                None => {
                    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
                    keys.sort_unstable();
                    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                    Err(format!("the secret's JSON has no key \"{wanted}\" (its keys: {})", keys.join(", ")))
                }
            }
        }
        _ if key.is_some() => {
            Err(format!("key = \"{}\" is set, but the secret is not a JSON object", key.unwrap_or_default()))
        }
        _ if text.is_empty() => Err("the secret is empty".into()),
        _ => Ok(Secret::new(text)),
    }
}

/// The region of a secret's ARN (`arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`).
fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.strip_prefix("arn:")?.split(':');
    let (_partition, service, region) = (parts.next()?, parts.next()?, parts.next()?);
    (service == "secretsmanager" && !region.is_empty()).then_some(region)
}

fn read_error<E>(named: &str, error: SdkError<E, aws_sdk_secretsmanager::config::http::HttpResponse>) -> UserError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = match &error {
        SdkError::ServiceError(service) => {
            (service.err().code().unwrap_or("").to_string(), service.err().message().unwrap_or("").to_string())
        }
        other => (String::new(), crate::error::chain(other)),
    };
    let hint = match code.as_str() {
        "ResourceNotFoundException" => {
            "check the secret's ARN or name and the region (an ARN names its own; a name is looked up in source.region)"
        }
        "AccessDeniedException" => {
            "the AWS identity of this run needs secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key)"
        }
        "DecryptionFailure" => "the AWS identity of this run needs kms:Decrypt on the secret's KMS key",
        "InvalidRequestException" => "the secret may be scheduled for deletion; restore it or name another",
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            "check the AWS credentials: the secret is read with the same ones as the RDS calls"
        }
        _ => "check the secret and the AWS credentials (the same as for the RDS calls)",
    };
    let what = match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{message} ({code})"),
        (false, true) => code.clone(),
        _ => message,
    };
    UserError::new(format!("{named} cannot be read: {what}")).hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_comes_from_json_as_rds_writes_it_or_from_plain_text() {
        let rds_managed = r#"{"username":"postgres","password":"Zx9!q{w"}"#;
        assert_eq!(extract(rds_managed, None).unwrap().expose(), "Zx9!q{w");
        assert_eq!(extract(r#"{"pw":"a","password":"b"}"#, Some("pw")).unwrap().expose(), "a");
        assert_eq!(extract("plain s3cret", None).unwrap().expose(), "plain s3cret");
        // Text that only looks like JSON is a password too.
        assert_eq!(extract("{not json", None).unwrap().expose(), "{not json");
        assert_eq!(extract("\"quoted\"", None).unwrap().expose(), "\"quoted\"");
    }

    #[test]
    fn shape_errors_describe_the_secret_without_quoting_it() {
        let error = extract(r#"{"username":"postgres","pass":"hunter2"}"#, None).unwrap_err();
        assert_eq!(error, "the secret's JSON has no key \"password\" (its keys: \"pass\", \"username\")");
        let error = extract(r#"{"password":17}"#, None).unwrap_err();
        assert_eq!(error, "the value under \"password\" is not a string");
        let error = extract("hunter2", Some("password")).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(extract("", None).is_err());
        assert!(extract(r#"{"password":""}"#, None).is_err());
    }

    #[test]
    fn an_arn_names_its_region() {
        assert_eq!(
            arn_region("arn:aws:secretsmanager:eu-west-3:123456789012:secret:rds!cluster-1-AbCdEf"),
            Some("eu-west-3")
        );
        assert_eq!(
            arn_region("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x"),
            Some("us-gov-west-1")
        );
        assert_eq!(arn_region("prod/orders/master"), None);
    }
}
