//! The clients of one run: built from the spec (and the environment where the spec is silent), used to
//! observe both sides and to report which endpoints and identities were used.

use crate::clients::postgres;
use crate::clients::rds::caller::CallerIdentity;
use crate::clients::{Clients, Databases, arm, rds};
use crate::error::UserError;
use crate::model::Observed;
use crate::model::server::ServerId;
use crate::observe;
use crate::plan::{Connection, System};
use crate::settings::Settings;
use crate::spec::Spec;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What an RDS client is built for: the AWS profile, the region, the CA bundle.
type RdsKey = (Option<String>, String, Option<PathBuf>);

/// What an ARM client is built for: the ARM endpoint, the authority host, the CA bundle and the spec's
/// tenant (the credential comes from the environment, the same for every spec, but the az CLI and azd
/// sign in to the tenant, and only that tenant's tokens are accepted: one token per tenant).
type ArmKey = (Option<String>, Option<String>, Option<PathBuf>, Option<String>);

/// Who AWS says the credentials of one RDS client belong to: asked once per client, beside the first RDS
/// calls, and awaited by every spec that uses the client, for its plan's header.
type Caller = futures::future::Shared<futures::future::BoxFuture<'static, CallerIdentity>>;

/// The clients the specs of one run share, by what they were built for.
#[derive(Default)]
pub(super) struct Shared {
    rds: tokio::sync::Mutex<HashMap<RdsKey, (Arc<rds::Rds>, Caller)>>,
    arm: tokio::sync::Mutex<HashMap<ArmKey, Arc<arm::Arm>>>,
}

/// The clients of one run, and the settings it was started with.
pub(super) struct Session<'s> {
    pub(super) clients: Clients,
    pub(super) settings: &'s Settings,
    /// Who AWS says the run is, asked beside the first RDS calls, for the plan's header.
    caller: Caller,
}

impl<'s> Session<'s> {
    /// Builds the AWS and Azure clients from the spec, falling back to the environment's settings. Sends
    /// nothing yet.
    pub(super) async fn open(spec: &Spec, settings: &'s Settings) -> Result<Self, UserError> {
        Self::open_sharing(spec, settings, &Shared::default()).await
    }

    /// [`Session::open`], taking the RDS and ARM clients from `shared` when another spec of the run built
    /// them for the same profile, region, endpoints and CA bundle.
    pub(super) async fn open_sharing(spec: &Spec, settings: &'s Settings, shared: &Shared) -> Result<Self, UserError> {
        // The databases' passwords are read before any cloud call: a missing file or variable is the user's
        // to fix, and learning it only after the clouds have been read helps no one.
        let passwords = [
            ("source.connection.password", &spec.source.connection.password),
            ("target.connection.password", &spec.target.connection.password),
        ];
        let unreadable: Vec<UserError> =
            passwords.iter().filter_map(|(key, source)| source.resolve(key).err()).collect();
        if !unreadable.is_empty() {
            return Err(report_problems(observe::Problems(unreadable)));
        }
        let trust = super::trust_for(spec, settings)?;
        let rds_settings = rds_settings(spec, settings, &spec.source.region);
        let arm_settings = arm_settings(spec, settings);
        let ca = trust.extra_path().map(std::path::Path::to_path_buf);
        let rds_key = (spec.source.profile.clone(), spec.source.region.clone(), ca.clone());
        // (AWS_CA_BUNDLE is one for the whole run, so it needs no place in the key.)
        let (rds, caller) = {
            // Held while connecting, so that specs starting together build one client, not one each.
            let mut clients = shared.rds.lock().await;
            match clients.get(&rds_key) {
                Some(client) => client.clone(),
                None => {
                    let rds = Arc::new(rds::Rds::connect(&rds_settings, &trust).await.map_err(|e| e.to_user_error())?);
                    let client = (rds.clone(), ask_caller(rds));
                    clients.insert(rds_key, client.clone());
                    client
                }
            }
        };
        let arm_key =
            (arm_settings.arm_endpoint.clone(), arm_settings.authority_host.clone(), ca, spec.target.tenant.clone());
        let arm = {
            let mut clients = shared.arm.lock().await;
            match clients.get(&arm_key) {
                Some(arm) => arm.clone(),
                None => {
                    let arm = Arc::new(arm::Arm::connect(&arm_settings, &trust).map_err(|e| e.to_user_error())?);
                    clients.insert(arm_key, arm.clone());
                    arm
                }
            }
        };
        let server = ServerId::new(&spec.target.subscription, &spec.target.resource_group, &spec.target.server);
        Ok(Self { clients: Clients { trust, rds, arm, server }, settings, caller })
    }

    /// Observes both clouds and both databases. A database that cannot be reached stays in the plan as
    /// a blocker, and gets one line on stderr as well, so a log shows it without reading the plan.
    pub(super) async fn observe(&self, spec: &Spec) -> Result<(Observed, Databases), UserError> {
        let (observed, databases) = observe::observe(spec, &self.clients).await.map_err(report_problems)?;
        for endpoint in &observed.endpoints {
            if let Err(unreachable) = &endpoint.outcome {
                let inert = |text: &str| crate::text::inert(text, false).into_owned();
                eprintln!(
                    "migprep: error: the {} database {} cannot be used as {}: {}\nhint: {}",
                    endpoint.side.name(),
                    inert(&endpoint.address),
                    inert(&endpoint.user),
                    inert(&unreachable.problem),
                    inert(&unreachable.hint)
                );
            }
        }
        Ok((observed, databases))
    }

    /// Every endpoint this run used and who it was there, for the plan's header.
    pub(super) async fn connections(&self, databases: &Databases) -> Vec<Connection> {
        let caller = self.caller.clone().await;
        let aws_identity = format!("{}, from {}", caller.describe(), self.clients.rds.credential_source());
        let arm = &self.clients.arm;
        let identity = arm.identity().await.unwrap_or_else(|| "no identity yet (no request was made)".into());
        let database = |endpoint: &postgres::Endpoint, system| Connection {
            system,
            endpoint: format!("{}/{} (sslmode {})", endpoint.address(), endpoint.database, endpoint.sslmode.name()),
            identity: match endpoint.password.token_kind() {
                Some(token) => format!("role {} with {}", endpoint.user, token.name()),
                None => format!("role {}", endpoint.user),
            },
        };
        vec![
            Connection { system: System::Aws, endpoint: self.clients.rds.endpoint(), identity: aws_identity },
            database(&databases.source, System::Source),
            Connection { system: System::Azure, endpoint: arm.endpoint().to_string(), identity },
            database(&databases.target, System::Target),
        ]
    }
}

/// Asks STS who the RDS client's credentials belong to, starting now (beside the first RDS calls, off the
/// plan's critical path); the answer can be awaited by every spec sharing the client.
fn ask_caller(rds: Arc<rds::Rds>) -> Caller {
    use futures::FutureExt;
    let asked = tokio::spawn(async move { rds.caller_identity().await });
    async move { asked.await.unwrap_or_else(|e| CallerIdentity::Unknown(format!("the question failed: {e}"))) }
        .boxed()
        .shared()
}

/// How to reach RDS (and the other AWS services of a run) for the spec, in `region`.
pub(super) fn rds_settings(spec: &Spec, settings: &Settings, region: &str) -> rds::Settings {
    aws_settings(spec.source.profile.clone(), region, settings)
}

/// How to reach RDS with `profile` in `region`, the rest from the environment (also for `init`, which has
/// no spec yet).
pub(super) fn aws_settings(profile: Option<String>, region: &str, settings: &Settings) -> rds::Settings {
    rds::Settings {
        region: region.to_string(),
        profile,
        poll_interval: Some(settings.poll_interval()),
        request_timeout: settings.request_timeout,
        ca_bundle: settings.aws_ca_bundle.clone(),
        ..rds::Settings::default()
    }
}

/// How to reach ARM (and Azure's other services) for the spec: its endpoints, else the environment's.
pub(super) fn arm_settings(spec: &Spec, settings: &Settings) -> arm::Settings {
    let target = &spec.target;
    azure_settings(target.arm_endpoint.clone(), target.authority_host.clone(), target.tenant.clone(), settings)
}

/// How to reach ARM at these endpoints, each falling back to the environment's (also for `init`).
pub(super) fn azure_settings(
    arm_endpoint: Option<String>,
    authority_host: Option<String>,
    tenant: Option<String>,
    settings: &Settings,
) -> arm::Settings {
    let mut arm_settings = arm::Settings {
        arm_endpoint: arm_endpoint.or_else(|| settings.arm_endpoint.clone()),
        authority_host: authority_host.or_else(|| settings.authority_host.clone()),
        audience: settings.arm_audience.clone(),
        credential: arm::Credential::Chain(arm::ChainEnvironment {
            tenant_id: settings.azure_tenant_id.clone(),
            client_id: settings.azure_client_id.clone(),
            client_secret: settings.azure_client_secret.clone(),
            client_certificate_path: settings.azure_client_certificate_path.clone(),
            client_certificate_password: settings.azure_client_certificate_password.clone(),
            federated_token_file: settings.azure_federated_token_file.clone(),
            token_credentials: settings.azure_token_credentials.clone(),
            imds_authority_host: settings.azure_pod_identity_authority_host.clone(),
            identity_endpoint: settings.identity_endpoint.clone(),
            tenant,
        }),
        request_timeout: settings.request_timeout,
        allow_custom_endpoints: settings.allow_custom_endpoints,
        ..arm::Settings::default()
    };
    // The same knob bounds ARM's waits: Retry-After and operation polls.
    let poll_interval = settings.poll_interval();
    arm_settings.backoff.max_delay = arm_settings.backoff.max_delay.min(poll_interval.max(Duration::from_secs(1)));
    arm_settings
}

/// Every observation problem, each with its hint: the first is the error's message, the others follow
/// as `error:`/`hint:` lines, and the last hint closes it.
fn report_problems(problems: observe::Problems) -> UserError {
    let problems = problems.0;
    let mut lines = Vec::new();
    for (index, problem) in problems.iter().enumerate() {
        let prefix = if index == 0 { "" } else { "error: " };
        lines.push(format!("{prefix}{}", problem.message));
        if let Some(hint) = &problem.hint
            && index + 1 < problems.len()
        {
            lines.push(format!("hint: {hint}"));
        }
    }
    let hint = problems.last().and_then(|p| p.hint.clone());
    UserError { message: lines.join("\n"), hint }
}
