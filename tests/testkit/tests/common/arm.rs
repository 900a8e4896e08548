//! The fake ARM harness: a started fake with one HA server and its read replica, an HTTPS client that
//! trusts the fake's CA, a bearer token, and helpers to call ARM, read replies and follow operations.

use migprep_testkit::arm::{API_VERSION, FakeArm, FakeArmConfig, ServerSeed};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

pub const SUBSCRIPTION: &str = "c0ffee00-1111-4222-8333-444455556666";
pub const RESOURCE_GROUP: &str = "migration-rg";
pub const SERVER: &str = "target-pg";
pub const REPLICA: &str = "target-pg-replica";

/// A started fake with one HA server (and a read replica), an HTTPS client trusting its CA and a token.
pub struct Harness {
    pub arm: FakeArm,
    pub http: reqwest::Client,
    pub token: String,
}

/// What came back: status, headers and the body as JSON (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

pub fn quick_config() -> FakeArmConfig {
    // Retry-After 0 keeps the tests fast; the default of 1 s is exercised by the Retry-After assertions.
    FakeArmConfig { retry_after_secs: 0, ..FakeArmConfig::default() }
}

pub fn server_seed() -> ServerSeed {
    ServerSeed::new(SERVER)
        .version("16")
        .sku("Standard_D4ds_v5", "GeneralPurpose")
        .storage_size_gb(256)
        .high_availability("ZoneRedundant", "2")
        .replica(REPLICA)
        .configuration("max_wal_senders", "20")
}

pub async fn harness(config: FakeArmConfig) -> Harness {
    let arm = FakeArm::start(config).await.expect("the fake ARM starts");
    arm.seed_server(SUBSCRIPTION, RESOURCE_GROUP, server_seed()).expect("seeding works");
    let http = client_trusting(arm.ca_pem());
    let reply = request_token(&http, &arm, arm.client_secret(), "https://management.azure.com/.default").await;
    assert_eq!(reply.status, StatusCode::OK, "token request: {}", reply.body);
    let token = reply.body["access_token"].as_str().expect("an access_token").to_owned();
    Harness { arm, http, token }
}

pub fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the CA parses");
    reqwest::Client::builder().tls_certs_only([ca]).build().expect("a client")
}

pub async fn request_token(http: &reqwest::Client, arm: &FakeArm, secret: &str, scope: &str) -> Reply {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", arm.client_id())
        .append_pair("client_secret", secret)
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", scope)
        .finish();
    let response = http
        .post(format!("{}/{}/oauth2/v2.0/token", arm.authority_host(), arm.tenant_id()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("the token endpoint answers");
    into_reply(response).await
}

pub async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
    Reply { status, headers, body }
}

impl Harness {
    /// `https://…/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.DBforPostgreSQL/flexibleServers/{rest}`
    pub fn server_url(&self, rest: &str) -> String {
        format!(
            "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{rest}",
            self.arm.endpoint()
        )
    }

    pub fn versioned(&self, rest: &str) -> String {
        format!("{}?api-version={API_VERSION}", self.server_url(rest))
    }

    pub async fn call(&self, method: Method, url: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        into_reply(request.send().await.expect("the fake answers")).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.call(Method::GET, url, None).await
    }

    pub async fn set_parameter(&self, name: &str, value: &str) -> Reply {
        let body = json!({ "properties": { "value": value, "source": "user-override" } });
        self.call(Method::PATCH, &self.versioned(&format!("{SERVER}/configurations/{name}")), Some(body)).await
    }

    pub async fn parameter(&self, name: &str) -> Value {
        let reply = self.get(&self.versioned(&format!("{SERVER}/configurations/{name}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["properties"].clone()
    }

    pub async fn server(&self, name: &str) -> Value {
        let reply = self.get(&self.versioned(name)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    /// Polls the `Azure-AsyncOperation` URL of an accepted write, verbatim, until it is terminal; returns
    /// every status body seen.
    pub async fn follow(&self, accepted: &Reply) -> Vec<Value> {
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
        let url = accepted.header("azure-asyncoperation").to_owned();
        let mut seen = Vec::new();
        for _ in 0..20 {
            let reply = self.get(&url).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let status = reply.body["status"].as_str().unwrap_or_default().to_owned();
            seen.push(reply.body);
            if status != "InProgress" {
                return seen;
            }
        }
        panic!("the operation never finished: {seen:?}");
    }
}

pub fn expect_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "expected {status} {code}, got {}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
    assert!(!reply.error_message().is_empty(), "an error message: {}", reply.body);
}
