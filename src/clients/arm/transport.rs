//! How one request travels: the bearer token, retries while ARM says to wait (409, 429, 5xx, dropped
//! connections), paging through `nextLink`, and long-running operations followed to their end.
//!
//! Why not azure_core's pipeline, `Pager` and `Poller` (1.1, evaluated): its retry policy counts attempts
//! and by default retries 408, 429, 500, 502, 503 and 504 — not 409, which ARM answers for as long as
//! another operation holds the server (an HA change takes 10–30 minutes), so that wait must be by time.
//! `Pager` and `Poller` follow the URLs the service hands out; migprep must check each one against the
//! ARM endpoint's origin before a bearer token goes with it, and both types would need that callback
//! written here anyway. There is no generated management client for flexible servers in azure_core 1.x
//! to take them from. What is taken: azure_identity's credentials (see `credential`), and the same
//! `Retry-After` reading rules (`retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After`).

use super::wire::{ArmError, OperationStatus, Page};
use super::*;
use crate::poll::{Ended, Probe, Wait};

/// One HTTP answer.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// What a 409 means for a request: a server busy with another operation (wait), or a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Busy {
    Wait,
    Fail,
}

/// What a request is about, for messages.
pub(super) struct Call<'a> {
    pub(super) operation: &'a str,
    pub(super) resource: &'a str,
}

impl Arm {
    // -- the HTTP machinery -------------------------------------------------------------------------

    pub(super) async fn get_json<T: DeserializeOwned>(&self, url: Url, call: &Call<'_>) -> Result<T, AzureError> {
        let answer = self.send(Method::GET, url, None, call).await?;
        decode(&answer.body, call.resource)
    }

    /// Every item of a pageable list.
    pub(super) async fn list<T: DeserializeOwned>(&self, first: Url, call: &Call<'_>) -> Result<Vec<T>, AzureError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(AzureError::Decode {
                    resource: call.resource.into(),
                    detail: format!("the list did not end after {MAX_PAGES} pages"),
                });
            }
            let page: Page<T> = self.get_json(url, call).await?;
            items.extend(page.value);
            if let Some(link) = page.next_link.filter(|l| !l.is_empty()) {
                next = Some(self.followed_url(&link, call.resource)?);
            }
        }
        Ok(items)
    }

    /// One request, retried while ARM says to wait or the connection fails: 429, 5xx and
    /// connection failures at most `max_attempts` times, 409 for up to `busy_timeout`. A non-success answer after that becomes an [`AzureError`].
    pub(super) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> Result<Answer, AzureError> {
        self.send_with(method, url, body, call, Busy::Wait).await
    }

    /// [`Arm::send`], choosing whether a 409 is waited out: a request whose conflict is not a busy server
    /// (another migration active on it) must fail at once.
    pub(super) async fn send_with(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: &Call<'_>,
        busy: Busy,
    ) -> Result<Answer, AzureError> {
        let mut attempt = 0;
        let mut refreshed_token = false;
        let mut busy_since: Option<Instant> = None;
        let mut busy_polls = 0;
        loop {
            attempt += 1;
            let token = self.tokens.token().await?;
            let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(token.expose());
            request = match body {
                Some(body) => request.json(body),
                // ARM wants a length on body-less POSTs (restart).
                None if method == Method::POST => request.header("content-length", "0"),
                None => request,
            };
            let last = attempt >= self.backoff.max_attempts.max(1);
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Answer { status, headers, body: body.to_vec() },
                        Err(e) if !last => {
                            tracing::debug!(error = %e, "reading an ARM answer failed; retrying");
                            tokio::time::sleep(self.backoff.delay(attempt - 1, None)).await;
                            continue;
                        }
                        Err(e) => return Err(transport(call, &e)),
                    }
                }
                Err(e) if !last && is_retryable_transport(&e) => {
                    tracing::debug!(error = %e, "ARM request failed; retrying");
                    tokio::time::sleep(self.backoff.delay(attempt - 1, None)).await;
                    continue;
                }
                Err(e) => return Err(transport(call, &e)),
            };
            let status = answer.status;
            if status.is_success() {
                return Ok(answer);
            }
            let error = ArmError::parse(&answer.body);
            if status == StatusCode::UNAUTHORIZED && !refreshed_token && error.code == "ExpiredAuthenticationToken" {
                refreshed_token = true;
                self.tokens.invalidate().await;
                continue;
            }
            if status == StatusCode::CONFLICT && busy == Busy::Wait {
                // A busy server is waited out by time, not attempts: the operation holding it (a
                // restart, an HA change) can take many minutes.
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() < self.busy_timeout {
                    busy_polls += 1;
                    attempt -= 1;
                    let delay = self.backoff.delay(busy_polls.min(8), retry_after(&answer.headers));
                    tracing::debug!(code = %error.code, "the server is busy; waiting");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            let waitable = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT
                || status.is_server_error();
            if waitable && !last {
                let delay = self.backoff.delay(attempt - 1, retry_after(&answer.headers));
                tracing::debug!(
                    status = status.as_u16(),
                    code = %error.code,
                    delay_ms = delay.as_millis() as u64,
                    "ARM asked to wait; retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(arm_error(call, status, error));
        }
    }

    /// Starts a long-running operation and follows it to its end.
    pub(super) async fn run_operation(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        call: &Call<'_>,
    ) -> Result<(), AzureError> {
        let answer = self.send(method, url, body, call).await?;
        let header = |name: &str| {
            answer.headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string)
        };
        // Azure-AsyncOperation is preferred; Location only when it is absent (ARM's async guide).
        let (first_url, via_location) = match (header("azure-asyncoperation"), header("location")) {
            (Some(url), _) => (url, false),
            (None, Some(url)) => (url, true),
            // A synchronous answer (200/201/204): done already.
            (None, None) => return Ok(()),
        };
        let pause = |after: Option<Duration>| after.unwrap_or(DEFAULT_POLL).min(self.backoff.max_delay);
        tokio::time::sleep(pause(retry_after(&answer.headers))).await;
        let poll_url = std::sync::Mutex::new(first_url);
        let wait = Wait::new(format!("{} of {}", call.operation, call.resource), pause(None), self.operation_timeout);
        let ended = wait
            .until(|| async {
                let current = poll_url.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
                let url = self.followed_url(&current, call.resource)?;
                let answer = self.send(Method::GET, url, None, call).await?;
                let retry = Some(pause(retry_after(&answer.headers)));
                if via_location {
                    if answer.status != StatusCode::ACCEPTED {
                        return Ok(Probe::Done(()));
                    }
                    if let Some(next) = answer.headers.get("location").and_then(|v| v.to_str().ok()) {
                        *poll_url.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = next.to_string();
                    }
                    return Ok(Probe::Pending { seen: "202 Accepted".into(), retry_after: retry });
                }
                let status: OperationStatus = decode(&answer.body, call.resource)?;
                match status.status.to_ascii_lowercase().as_str() {
                    "succeeded" => Ok(Probe::Done(())),
                    "failed" | "canceled" | "cancelled" => {
                        let error = status.error.unwrap_or_default();
                        Err(AzureError::OperationFailed {
                            operation: call.operation.into(),
                            resource: call.resource.into(),
                            status: status.status,
                            code: error.code,
                            message: error.message,
                        })
                    }
                    _ => Ok(Probe::Pending { seen: status.status, retry_after: retry }),
                }
            })
            .await;
        match ended {
            Ok(()) => Ok(()),
            Err(Ended::Failed(error)) => Err(error),
            Err(Ended::TimedOut(timed_out)) => Err(AzureError::Timeout {
                operation: call.operation.into(),
                resource: call.resource.into(),
                waited: timed_out.waited,
            }),
        }
    }
}

/// `Retry-After` in seconds (ARM does not send dates here).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Connection-level failures worth another try; TLS trust failures are not (they won't heal).
pub(super) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        source = e.source();
    }
    error.is_connect() || error.is_timeout() || error.is_request()
}

pub(super) fn transport(call: &Call<'_>, error: &reqwest::Error) -> AzureError {
    // reqwest's Display omits the cause (the useful part: refused, TLS, DNS); the URL may carry a
    // skip token but never a credential.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        detail.push_str(": ");
        detail.push_str(&e.to_string());
        source = e.source();
    }
    AzureError::Transport { operation: call.operation.into(), resource: call.resource.into(), detail }
}

pub(super) fn arm_error(call: &Call<'_>, status: StatusCode, error: ArmError) -> AzureError {
    let resource = call.resource.to_string();
    match status {
        StatusCode::NOT_FOUND => AzureError::NotFound { resource, code: error.code, message: error.message },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            AzureError::Access { resource, status: status.as_u16(), code: error.code, message: error.message }
        }
        _ => AzureError::Arm {
            operation: call.operation.into(),
            resource,
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        },
    }
}

pub(super) fn decode<T: DeserializeOwned>(body: &[u8], resource: &str) -> Result<T, AzureError> {
    serde_json::from_slice(body).map_err(|e| AzureError::Decode { resource: resource.into(), detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::super::Backoff;
    use super::*;

    #[test]
    fn retry_after_is_capped_and_backoff_grows() {
        let backoff =
            Backoff { max_attempts: 5, initial_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        assert_eq!(backoff.delay(0, None), Duration::from_millis(100));
        assert_eq!(backoff.delay(2, None), Duration::from_millis(400));
        assert_eq!(backoff.delay(9, None), Duration::from_secs(1));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(30))), Duration::from_secs(1));
    }
}
