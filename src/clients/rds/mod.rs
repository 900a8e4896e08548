//! The AWS RDS provider: reads an Aurora PostgreSQL cluster, its members and its DB cluster parameter
//! groups into plain values, and performs the few RDS writes the source rules need (create a cluster
//! parameter group, modify its parameters, attach it, reboot the writer) plus bounded polling until
//! the change has taken effect.
//!
//! It owns the one `aws_sdk_rds::Client` (built once from aws-config's default chain, the spec's
//! profile and region, the SDK's own `AWS_ENDPOINT_URL` override and the extra CA bundle) and the
//! translation of SDK errors into [`AwsError`]. SDK types never leave this module, and it decides
//! nothing: which parameters to change, and whether a reboot is allowed, belongs to the rules.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::config::retry::RetryConfig;
use aws_sdk_rds::config::timeout::TimeoutConfig;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::{ApplyMethod, Filter};

use crate::model::cluster::{AVAILABLE, ApplyType, Cluster, IN_SYNC, Instance, Member, Parameter, ParameterGroup};
use crate::poll::{Probe, Wait};
use crate::secret::Secret;
use crate::tls::Trust;

mod auth_token;
mod batch;
pub mod caller;
mod convert;
mod error;
mod flights;
mod https;
mod listing;

use convert::{cluster_from, instance_from, parameter_from};
pub use error::AwsError;
use error::{Subject, classify};
use https::https_client;
use listing::retain_requested;

/// Whether `host` is a name RDS gives its endpoints (`….rds.amazonaws.com`, `….rds.amazonaws.com.cn`, or
/// another partition's `….rds.amazonaws.<tld>`), as opposed to an address of the user's: a tunnel's
/// local end, an IP address, an alias.
pub fn is_endpoint_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    labels.windows(2).any(|pair| pair == ["rds", "amazonaws"])
}

/// RDS refuses more than this many parameters in one `ModifyDBClusterParameterGroup` call.
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

/// The largest page RDS hands out; fewer round trips for groups with hundreds of parameters.
const PAGE_SIZE: i32 = 100;

/// Instance states from which no amount of waiting leads to `available` without someone acting.
const STUCK_INSTANCE_STATES: &[&str] = &[
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-restore",
    "failed",
    "inaccessible-encryption-credentials",
    "storage-full",
    "stopped",
    "deleting",
];

// ---------------------------------------------------------------------------------------------------
// Settings

/// How to reach AWS. Built by the caller from the spec; everything optional falls back to what the
/// `aws` CLI would use.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The cluster's region (`source.region`).
    pub region: String,
    /// A named profile (`source.profile`); `None` uses the default chain (`AWS_PROFILE` included).
    pub profile: Option<String>,
    /// Replaces the RDS endpoint. `None` leaves resolution to the SDK, which honours
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_RDS`.
    pub endpoint_url: Option<String>,
    /// Fixed credentials instead of the default chain (tests and stand-ins).
    pub static_credentials: Option<StaticCredentials>,
    /// Retry policy; `None` keeps the SDK's standard mode (3 attempts, env and profile overrides).
    pub retry: Option<Retry>,
    /// Pause between two polls in the wait helpers; `None` is [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Option<Duration>,
    /// How long one request may take (each attempt, connecting included); `None` is
    /// [`DEFAULT_REQUEST_TIMEOUT`]. An endpoint that accepts and never answers fails after it instead of
    /// hanging the run.
    pub request_timeout: Option<Duration>,
    /// `AWS_CA_BUNDLE`: more certificates to trust for AWS's endpoints, beside the run's `ca_file`.
    pub ca_bundle: Option<std::path::PathBuf>,
}

/// The request timeout when none is configured: RDS answers reads in well under a second and writes in
/// a few; a minute means it is not coming.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The pause between polls when none is configured: short enough to notice a finished reboot soon,
/// long enough not to eat into the account's API rate.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// An access key pair. The secret half is a [`Secret`], so it never shows in `Debug` output.
#[derive(Clone, Debug)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// The SDK's standard retry mode with explicit numbers (it retries `Throttling`, transient errors and
/// 5xx with jittered exponential back-off).
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { max_attempts: 3, initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(20) }
    }
}

/// Which parameters `DescribeDBClusterParameters` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterSource {
    EngineDefault,
    System,
    User,
}

impl ParameterSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterSource::EngineDefault => "engine-default",
            ParameterSource::System => "system",
            ParameterSource::User => "user",
        }
    }
}

/// One value to set in a parameter group. `apply_type` comes from the observed [`Parameter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterChange {
    pub name: String,
    pub value: String,
    pub apply_type: ApplyType,
}

/// A profile named in the spec or by `AWS_PROFILE` that the AWS files do not define is an error of its
/// own: the SDK would fall through to the next credential source and report that one's failure (the
/// instance metadata service's, typically), which names neither the profile nor the mistake.
async fn check_profile(spec_profile: Option<&str>) -> Result<(), AwsError> {
    use aws_types::os_shim_internal::{Env, Fs};
    let env = Env::real();
    let environment_profile = env.get("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let (profile, named_by) = match (spec_profile, &environment_profile) {
        (Some(profile), _) => (profile.to_string(), "source.profile"),
        (None, Some(profile)) => (profile.clone(), "AWS_PROFILE"),
        (None, None) => return Ok(()),
    };
    // The default files (`~/.aws/config`, `~/.aws/credentials`, or what AWS_CONFIG_FILE and
    // AWS_SHARED_CREDENTIALS_FILE name). Unreadable or malformed files are the SDK's to report.
    let Ok(set) = aws_config::profile::parser::load(&Fs::real(), &env, &Default::default(), None).await else {
        return Ok(());
    };
    if profile == "default" || set.get_profile(&profile).is_some() {
        return Ok(());
    }
    let mut known: Vec<String> = set.profiles().map(str::to_string).collect();
    known.sort();
    Err(AwsError::ProfileNotFound { profile, named_by, known })
}

// ---------------------------------------------------------------------------------------------------
// The client

/// The RDS client, built once and shared.
#[derive(Clone, Debug)]
pub struct Rds {
    client: aws_sdk_rds::Client,
    region: String,
    profile: Option<String>,
    /// The endpoint override in force (the spec's, or the SDK's own `AWS_ENDPOINT_URL`); `None` is AWS's.
    endpoint_url: Option<String>,
    poll_interval: Duration,
    /// What the client was built from: IAM tokens and Secrets Manager use the same credentials.
    sdk: aws_config::SdkConfig,
    /// Reads in flight, shared by the clones of this client and the specs that use it.
    flights: std::sync::Arc<flights::Flights>,
}

impl Rds {
    /// Builds the client from aws-config's default chain with the given settings. Reads profile files
    /// and environment, but sends no request.
    pub async fn connect(settings: &Settings, trust: &Trust) -> Result<Rds, AwsError> {
        if settings.static_credentials.is_none() {
            check_profile(settings.profile.as_deref()).await?;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(creds) = &settings.static_credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.expose(),
                None,
                None,
                "migprep-static",
            ));
        }
        let attempt = settings.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        loader = loader.timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(attempt.min(Duration::from_secs(10)))
                .read_timeout(attempt)
                .operation_attempt_timeout(attempt)
                .operation_timeout(attempt * 4)
                .build(),
        );
        if let Some(retry) = settings.retry {
            loader = loader.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(retry.max_attempts.max(1))
                    .with_initial_backoff(retry.initial_backoff)
                    .with_max_backoff(retry.max_backoff),
            );
        }
        if let Some(http) = https_client(trust, settings.ca_bundle.as_deref())? {
            // Set on the loader, not just on RDS, so STS, SSO and IMDS calls of the credential chain
            // trust the extra CA as well.
            loader = loader.http_client(http);
        }
        let sdk = loader.load().await;
        Ok(Rds {
            client: aws_sdk_rds::Client::new(&sdk),
            region: settings.region.clone(),
            profile: settings.profile.clone(),
            endpoint_url: sdk.endpoint_url().map(str::to_string),
            poll_interval: settings.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL),
            sdk,
            flights: Default::default(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK configuration the client was built from, for the other AWS clients of a run.
    pub(in crate::clients) fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// Where requests go, for the plan's header: the override in force, or AWS's endpoint for the region.
    pub fn endpoint(&self) -> String {
        match &self.endpoint_url {
            Some(url) => format!("{url} ({})", self.region),
            None => format!("AWS's RDS endpoint for {}", self.region),
        }
    }

    /// Where the credentials came from, for the plan's header: the spec's profile or the default chain.
    pub fn credential_source(&self) -> String {
        match &self.profile {
            Some(profile) => format!("profile {profile}"),
            None => "the default credential chain".into(),
        }
    }

    fn error<E>(&self, operation: &'static str, subject: Subject<'_>, err: SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        classify(operation, subject, &self.region, &self.profile, err)
    }

    /// One cluster with its members; a missing cluster is [`AwsError::ClusterNotFound`].
    pub async fn cluster(&self, id: &str) -> Result<Cluster, AwsError> {
        // The members' details do not depend on the cluster's answer: ask for both at once.
        let (cluster, instances) = tokio::join!(self.cluster_alone(id), self.instances(id));
        Ok(cluster?.with_instances(&instances?))
    }

    /// A cluster as DescribeDBClusters tells it, its members without their details: enough to reach
    /// the writer, which need not wait for [`Self::instances`].
    pub async fn cluster_alone(&self, id: &str) -> Result<Cluster, AwsError> {
        let subject = Subject { cluster: Some(id), ..Subject::default() };
        let out = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| self.error("DescribeDBClusters", subject, e))?;
        let Some(raw) = out.db_clusters().first() else {
            return Err(AwsError::ClusterNotFound { cluster: id.to_string(), region: self.region.clone() });
        };
        Ok(cluster_from(raw))
    }

    /// The identifiers of every cluster in the account and region that uses `group`, read page by
    /// page: a group shared with another cluster must not be modified in place.
    pub async fn clusters_using_group(&self, group: &str) -> Result<Vec<String>, AwsError> {
        let rds = self.clone();
        let every = self.flights.clusters.share(&self.flights, String::new(), async move { rds.every_cluster().await });
        let mut users: Vec<String> =
            every.await?.into_iter().filter(|(_, uses)| uses.as_deref() == Some(group)).map(|(id, _)| id).collect();
        users.sort();
        Ok(users)
    }

    /// Every cluster of the account and region with its parameter group, page by page.
    async fn every_cluster(&self) -> Result<Vec<(String, Option<String>)>, AwsError> {
        let mut pages = self.client.describe_db_clusters().max_records(PAGE_SIZE).into_paginator().send();
        let mut clusters = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("DescribeDBClusters", Subject::default(), e))?;
            clusters.extend(page.db_clusters().iter().filter_map(|c| {
                Some((c.db_cluster_identifier()?.to_string(), c.db_cluster_parameter_group().map(str::to_string)))
            }));
        }
        Ok(clusters)
    }

    /// The instances of a cluster (class, public accessibility, status).
    pub async fn instances(&self, cluster: &str) -> Result<Vec<Instance>, AwsError> {
        let subject = Subject { cluster: Some(cluster), ..Subject::default() };
        let mut pages = self
            .client
            .describe_db_instances()
            .filters(Filter::builder().name("db-cluster-id").values(cluster).build())
            .max_records(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("DescribeDBInstances", subject, e))?;
            instances.extend(page.db_instances().iter().map(instance_from));
        }
        Ok(instances)
    }

    /// One DB instance; a missing one is [`AwsError::InstanceNotFound`].
    pub async fn instance(&self, id: &str) -> Result<Instance, AwsError> {
        let subject = Subject { instance: Some(id), ..Subject::default() };
        let out = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| self.error("DescribeDBInstances", subject, e))?;
        out.db_instances()
            .first()
            .map(instance_from)
            .ok_or_else(|| AwsError::InstanceNotFound { instance: id.to_string(), region: self.region.clone() })
    }

    /// A DB cluster parameter group, or `None` if there is no group of that name.
    pub async fn parameter_group(&self, name: &str) -> Result<Option<ParameterGroup>, AwsError> {
        let (rds, owned) = (self.clone(), name.to_string());
        let read = async move { rds.describe_group(&owned).await };
        self.flights.groups.share(&self.flights, name.to_string(), read).await
    }

    async fn describe_group(&self, name: &str) -> Result<Option<ParameterGroup>, AwsError> {
        let subject = Subject { group: Some(name), ..Subject::default() };
        let out = self.client.describe_db_cluster_parameter_groups().db_cluster_parameter_group_name(name).send().await;
        match out {
            Ok(out) => Ok(out.db_cluster_parameter_groups().first().map(|g| ParameterGroup {
                name: g.db_cluster_parameter_group_name().unwrap_or(name).to_string(),
                family: g.db_parameter_group_family().unwrap_or_default().to_string(),
                description: g.description().unwrap_or_default().to_string(),
            })),
            Err(e) => match self.error("DescribeDBClusterParameterGroups", subject, e) {
                AwsError::ParameterGroupNotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The parameters of a group, every page, optionally only those from `source` and only the
    /// `names` given (RDS's `parameter-name` filter; empty means all). Both filters are applied again to
    /// the answer, for endpoints that ignore them. A custom group's listing may lack parameters that are
    /// at their engine default (an emulator's groups start empty): see [`Rds::engine_defaults`].
    pub async fn parameters(
        &self,
        group: &str,
        source: Option<ParameterSource>,
        names: &[&str],
    ) -> Result<Vec<Parameter>, AwsError> {
        let key = format!("{group:?} {source:?} {names:?}");
        let (rds, group, names) = (self.clone(), group.to_string(), names.iter().map(|n| n.to_string()).collect());
        let read = async move {
            let names: Vec<String> = names;
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            rds.list_parameters(&group, source, &names).await
        };
        self.flights.parameters.share(&self.flights, key, read).await
    }

    async fn list_parameters(
        &self,
        group: &str,
        source: Option<ParameterSource>,
        names: &[&str],
    ) -> Result<Vec<Parameter>, AwsError> {
        let subject = Subject { group: Some(group), ..Subject::default() };
        let mut request =
            self.client.describe_db_cluster_parameters().db_cluster_parameter_group_name(group).max_records(PAGE_SIZE);
        if let Some(source) = source {
            request = request.source(source.as_str());
        }
        if !names.is_empty() {
            let filter = names.iter().fold(Filter::builder().name("parameter-name"), |f, n| f.values(*n)).build();
            request = request.filters(filter);
        }
        let mut pages = request.into_paginator().send();
        let mut parameters = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("DescribeDBClusterParameters", subject, e))?;
            parameters.extend(page.parameters().iter().map(parameter_from));
        }
        Ok(retain_requested(parameters, source, names))
    }

    /// Every parameter of `family` at its engine default (`DescribeEngineDefaultClusterParameters`, every
    /// page). Where that API is not implemented (moto, some proxies), the family's own
    /// `default.<family>` group is read instead, which holds the same values.
    pub async fn engine_defaults(&self, family: &str) -> Result<Vec<Parameter>, AwsError> {
        let subject = Subject { family: Some(family), ..Subject::default() };
        let mut pages = self
            .client
            .describe_engine_default_cluster_parameters()
            .db_parameter_group_family(family)
            .max_records(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut parameters = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    let listed = page.engine_defaults().map(|d| d.parameters()).unwrap_or_default();
                    parameters.extend(listed.iter().map(parameter_from));
                }
                Err(e) => {
                    let error = self.error("DescribeEngineDefaultClusterParameters", subject, e);
                    if !error.is_not_implemented() {
                        return Err(error);
                    }
                    let fallback = format!("default.{family}");
                    tracing::debug!(
                        %error,
                        "DescribeEngineDefaultClusterParameters is not implemented by this endpoint; \
                         reading the engine defaults of {family} from {fallback}"
                    );
                    return match self.parameters(&fallback, None, &[]).await {
                        Err(AwsError::ParameterGroupNotFound { .. }) => {
                            Err(AwsError::NoEngineDefaults { family: family.to_string(), fallback })
                        }
                        other => other,
                    };
                }
            }
        }
        Ok(parameters)
    }

    /// Creates a custom DB cluster parameter group, which starts with the family's engine defaults.
    pub async fn create_parameter_group(
        &self,
        name: &str,
        family: &str,
        description: &str,
    ) -> Result<ParameterGroup, AwsError> {
        let subject = Subject { group: Some(name), ..Subject::default() };
        let out = self
            .flights
            .write(
                self.client
                    .create_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .db_parameter_group_family(family)
                    .description(description)
                    .send(),
            )
            .await
            .map_err(|e| self.error("CreateDBClusterParameterGroup", subject, e))?;
        let group = out.db_cluster_parameter_group();
        Ok(ParameterGroup {
            // RDS stores names lowercase; report what it stored.
            name: group.and_then(|g| g.db_cluster_parameter_group_name()).unwrap_or(name).to_string(),
            family: group.and_then(|g| g.db_parameter_group_family()).unwrap_or(family).to_string(),
            description: group.and_then(|g| g.description()).unwrap_or(description).to_string(),
        })
    }

    /// Sets parameters in a group, at most [`MAX_PARAMETERS_PER_CALL`] per request, each with the
    /// apply method its apply type allows. Returns how many requests were made.
    pub async fn modify_parameters(&self, group: &str, changes: &[ParameterChange]) -> Result<usize, AwsError> {
        let subject = Subject { group: Some(group), ..Subject::default() };
        let mut calls = 0;
        for batch in batch::batches(changes) {
            let parameters = batch
                .iter()
                .map(|c| {
                    aws_sdk_rds::types::Parameter::builder()
                        .parameter_name(&c.name)
                        .parameter_value(&c.value)
                        .apply_method(ApplyMethod::from(c.apply_type.apply_method()))
                        .build()
                })
                .collect();
            self.flights
                .write(
                    self.client
                        .modify_db_cluster_parameter_group()
                        .db_cluster_parameter_group_name(group)
                        .set_parameters(Some(parameters))
                        .send(),
                )
                .await
                .map_err(|e| self.error("ModifyDBClusterParameterGroup", subject, e))?;
            calls += 1;
        }
        Ok(calls)
    }

    /// Attaches `group` to the cluster now (`ApplyImmediately`); the members then show
    /// `pending-reboot` until rebooted.
    pub async fn attach_parameter_group(&self, cluster: &str, group: &str) -> Result<(), AwsError> {
        let subject = Subject { cluster: Some(cluster), group: Some(group), ..Subject::default() };
        self.flights
            .write(
                self.client
                    .modify_db_cluster()
                    .db_cluster_identifier(cluster)
                    .db_cluster_parameter_group_name(group)
                    .apply_immediately(true)
                    .send(),
            )
            .await
            .map_err(|e| self.error("ModifyDBCluster", subject, e))?;
        Ok(())
    }

    /// Reboots one DB instance (for Aurora: the writer; `RebootDBCluster` is not for Aurora).
    pub async fn reboot_instance(&self, instance: &str) -> Result<(), AwsError> {
        let subject = Subject { instance: Some(instance), ..Subject::default() };
        self.flights
            .write(self.client.reboot_db_instance().db_instance_identifier(instance).send())
            .await
            .map_err(|e| self.error("RebootDBInstance", subject, e))?;
        Ok(())
    }

    /// Polls until the instance is `available`, every poll interval, for at most `timeout`. A state
    /// that waiting cannot fix (e.g. `incompatible-parameters`) ends the wait at once.
    pub async fn wait_until_available(&self, instance: &str, timeout: Duration) -> Result<Instance, AwsError> {
        let wait = Wait::new(format!("DB instance {instance} to be available"), self.poll_interval, timeout);
        wait.until(|| async {
            let current = self.instance(instance).await?;
            if current.status == AVAILABLE {
                return Ok(Probe::Done(current));
            }
            if STUCK_INSTANCE_STATES.contains(&current.status.as_str()) {
                return Err(AwsError::Stuck { instance: instance.to_string(), status: current.status });
            }
            Ok(Probe::pending(current.status))
        })
        .await
        .map_err(AwsError::from)
    }

    /// Polls until every member named in `members` (the writer when empty) is `available` and its
    /// parameter group status is `in-sync`. Readers of Aurora PostgreSQL 15.2+/14.7+/13.10+/12.14+
    /// stay `pending-reboot` after a writer reboot, so the caller chooses whom to wait for.
    pub async fn wait_until_in_sync(
        &self,
        cluster: &str,
        members: &[&str],
        timeout: Duration,
    ) -> Result<Cluster, AwsError> {
        let what = format!("the members of DB cluster {cluster} to be available and in-sync");
        Wait::new(what, self.poll_interval, timeout)
            .until(|| async {
                let current = self.cluster(cluster).await?;
                if let Some(missing) = members.iter().find(|id| current.member(id).is_none()) {
                    return Err(AwsError::InstanceNotFound {
                        instance: (*missing).to_string(),
                        region: self.region.clone(),
                    });
                }
                let watched: Vec<&Member> = if members.is_empty() {
                    current.writer().into_iter().collect()
                } else {
                    current.members.iter().filter(|m| members.contains(&m.instance_id.as_str())).collect()
                };
                if let Some(stuck) =
                    watched.iter().find(|m| m.status.as_deref().is_some_and(|s| STUCK_INSTANCE_STATES.contains(&s)))
                {
                    return Err(AwsError::Stuck {
                        instance: stuck.instance_id.clone(),
                        status: stuck.status.clone().unwrap_or_default(),
                    });
                }
                let done = !watched.is_empty()
                    && watched
                        .iter()
                        .all(|m| m.status.as_deref() == Some(AVAILABLE) && m.parameter_group_status == IN_SYNC);
                if done {
                    return Ok(Probe::Done(current));
                }
                let seen: Vec<String> = watched
                    .iter()
                    .map(|m| {
                        format!(
                            "{} {} {}",
                            m.instance_id,
                            m.status.as_deref().unwrap_or("unknown"),
                            m.parameter_group_status
                        )
                    })
                    .collect();
                Ok(Probe::pending(if seen.is_empty() { "no writer".to_string() } else { seen.join(", ") }))
            })
            .await
            .map_err(AwsError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_endpoint_names_are_told_from_the_users_addresses() {
        for name in [
            "orders.cluster-abc123.us-east-1.rds.amazonaws.com",
            "orders-1.abc123.cn-north-1.rds.amazonaws.com.cn.",
            "ORDERS.CLUSTER-ABC.EUSC-DE-EAST-1.RDS.AMAZONAWS.EU",
        ] {
            assert!(is_endpoint_name(name), "{name}");
        }
        for address in ["localhost", "127.0.0.1", "::1", "db.internal.example.com", "rds.example.com", "amazonaws.com"]
        {
            assert!(!is_endpoint_name(address), "{address}");
        }
    }

    #[test]
    fn static_credentials_never_show_the_secret() {
        let creds = StaticCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG"),
        };
        assert!(!format!("{creds:?}").contains("wJalr"));
    }
}
