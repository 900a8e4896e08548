//! Secrets in moto's Secrets Manager (moto serves every AWS service on its one port), for specs that
//! read a password with `{ aws_secret = … }`: created with the JSON API the SDK speaks
//! (`X-Amz-Target: secretsmanager.CreateSecret`); moto takes the service and region from the
//! `Authorization` credential scope and checks no signature.

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Creates secret `name` holding `value` (a string: JSON as RDS writes it, or plain text) in `region`
/// of the moto at `moto_endpoint`; returns its ARN.
pub async fn create_secret(moto_endpoint: &str, region: &str, name: &str, value: &str) -> Result<String> {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/", moto_endpoint.trim_end_matches('/')))
        .header("x-amz-target", "secretsmanager.CreateSecret")
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", authorization)
        .body(json!({ "Name": name, "SecretString": value }).to_string())
        .send()
        .await
        .context("creating a secret in moto")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading moto's answer to CreateSecret")?;
    if !status.is_success() {
        bail!("moto refused CreateSecret for {name}: {status} {body}");
    }
    body["ARN"].as_str().map(str::to_string).context("moto's CreateSecret answer has no ARN")
}
