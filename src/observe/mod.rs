//! Providers: one per system, each reading its system into plain Rust values. SDK types, ARM JSON and
//! database rows never leave their provider. Everything here does I/O; nothing here decides anything.
//!
//! [`observe`] reads everything the rules need, as concurrently as the dependencies allow: the cluster
//! and the server first (they name the database endpoints), then both databases and the rest of both
//! clouds at once. Problems are collected and reported together.

pub mod extensions;
pub mod logins;
pub mod roles;
pub mod sizing;
pub mod source;
pub mod target;

use crate::clients::postgres::{self, Endpoint, Password, Pool, Side};
use crate::clients::{Clients, Databases};
use crate::error::UserError;
use crate::model::endpoints::{EndpointObservation, Reached, Unreachable};
use crate::model::{self, Observed};
use crate::spec::{Connection, PasswordSource, Spec};

/// Several problems found while observing, reported together.
#[derive(Debug)]
pub struct Problems(pub Vec<UserError>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|e| e.message.as_str()).collect();
        f.write_str(&messages.join("; "))
    }
}

impl std::error::Error for Problems {}

/// Reads both clouds and both databases. Cloud problems (credentials, not found) stop the run and
/// are all reported; database problems become N1 findings instead, so the plan still shows the rest.
///
/// Nothing waits for what it does not need: the target's configurations are listed from the start, a
/// database whose address the spec gives is dialled at once, the Aurora writer as soon as RDS names it
/// (Azure may still be answering), and each database's connection is shared by every observer.
pub async fn observe(spec: &Spec, clients: &Clients) -> Result<(Observed, Databases), Problems> {
    let (configurations, observed) = tokio::join!(target::observe(clients), observe_rest(spec, clients));
    let mut problems = Vec::new();
    let server_read = observed.as_ref().map_or_else(|failure| failure.server_read, |_| true);
    let observed = observed.map_err(|failure| problems.extend(failure.problems)).ok();
    // Listing a server's parameters fails too when there is no server: say that once.
    let configurations = configurations.map_err(|e| problems.extend(e.into_iter().filter(|_| server_read))).ok();
    let (Some(configurations), Some(rest)) = (configurations, observed) else {
        dedup(&mut problems);
        return Err(Problems(problems));
    };
    let observed = Observed {
        cluster: rest.cluster,
        server: rest.server,
        replicas: rest.replicas,
        endpoints: rest.endpoints,
        source: rest.source,
        configurations,
        extensions: rest.extensions,
        roles: rest.roles,
        sizing: rest.sizing,
    };
    Ok((observed, rest.databases))
}

/// What [`observe_rest`] reads: everything but the target's configurations, and the endpoints it used.
struct Rest {
    cluster: model::Cluster,
    server: model::Server,
    replicas: Vec<model::Replica>,
    endpoints: Vec<EndpointObservation>,
    source: model::Source,
    extensions: model::Extensions,
    roles: model::RoleCatalog,
    sizing: model::Sizing,
    databases: Databases,
}

/// Why [`observe_rest`] stopped, and whether it got as far as reading the flexible server.
struct RestFailure {
    problems: Vec<UserError>,
    server_read: bool,
}

async fn observe_rest(spec: &Spec, clients: &Clients) -> Result<Rest, RestFailure> {
    let logins = logins::logins(spec, clients).await.map_err(|problems| RestFailure { problems, server_read: true })?;
    let trust = &clients.trust;
    let source = &spec.source.connection;
    let target = &spec.target.connection;
    let source_database = spec.source.databases[0].clone();
    // Every selected database is dialled with the main one: the observers that need them start only
    // once the clouds have answered, and their handshakes need not wait for that.
    let source_pool = |host: Option<String>, port: Option<u16>, signed_for: Option<(String, u16)>| {
        let password = match signed_for {
            Some((host, port)) => logins.source.clone().signed_for(host, port),
            None => logins.source.clone(),
        };
        endpoint(Side::Source, source, &password, host, port, source_database.clone()).map(|e| {
            let pool = Pool::open(e, trust.clone());
            pool.warm(&spec.source.databases);
            pool
        })
    };
    let target_pool = |host: Option<String>| {
        endpoint(Side::Target, target, &logins.target, host, None, "postgres".to_string())
            .map(|e| Pool::open(e, trust.clone()))
    };
    // An IAM token must name the endpoint RDS knows. When the spec dials another address (a tunnel's
    // local end, an alias), the token is signed for the writer endpoint the API reports, so the
    // connection waits for it.
    let tunnelled = matches!(source.password, PasswordSource::Iam)
        && source.host.as_deref().is_some_and(|host| !crate::clients::rds::is_endpoint_name(host));
    let early_source = (source.host.is_some() && source.port.is_some() && !tunnelled)
        .then(|| source_pool(source.host.clone(), None, None));
    let early_target = target.host.is_some().then(|| target_pool(target.host.clone()));

    // The writer is dialled as soon as DescribeDBClusters names it; the members' details come meanwhile.
    let ((cluster, source_pool), instances, server, replicas) = tokio::join!(
        async {
            let cluster = clients.rds.cluster_alone(&spec.source.cluster).await;
            let pool = match (early_source, &cluster) {
                (Some(pool), _) => Some(pool),
                (None, Ok(cluster)) => {
                    let signed_for =
                        cluster.endpoint.clone().filter(|_| tunnelled).map(|e| (e, cluster.port.unwrap_or(5432)));
                    Some(source_pool(
                        source.host.clone().or_else(|| cluster.endpoint.clone()),
                        cluster.port,
                        signed_for,
                    ))
                }
                (None, Err(_)) => None,
            };
            (cluster, pool)
        },
        clients.rds.instances(&spec.source.cluster),
        clients.arm.server(&clients.server),
        clients.arm.replicas(&clients.server),
    );
    let mut problems = Vec::new();
    // A missing cluster is the one problem to report, not also its instances' listing.
    let cluster = cluster.and_then(|cluster| Ok(cluster.with_instances(&instances?)));
    let cluster = cluster.map_err(|e| problems.push(e.to_user_error())).ok();
    let server = server.map_err(|e| problems.push(e.to_user_error())).ok();
    let replicas = replicas.map_err(|e| problems.push(e.to_user_error())).ok();
    let target_pool = match (early_target, &server) {
        (Some(pool), _) => Some(pool),
        (None, Some(server)) => Some(target_pool(target.host.clone().or_else(|| server.fqdn.clone()))),
        (None, None) => None,
    };
    let server_read = server.is_some();
    let (Some(cluster), Some(server), Some(replicas), Some(source_pool), Some(target_pool)) =
        (cluster, server, replicas, source_pool, target_pool)
    else {
        return Err(RestFailure { problems, server_read });
    };
    let (source_pool, target_pool) = match (source_pool, target_pool) {
        (Ok(s), Ok(t)) => (s, t),
        (s, t) => {
            problems.extend(s.err());
            problems.extend(t.err());
            return Err(RestFailure { problems, server_read });
        }
    };

    let (source_probe, target_probe, source_state, extensions, roles, sizing) = tokio::join!(
        postgres::reach(&source_pool),
        postgres::reach(&target_pool),
        source::observe(spec, clients, &cluster, &source_pool),
        extensions::observe(spec, &source_pool),
        roles::observe(&source_pool, &target_pool),
        sizing::observe(spec, clients, &source_pool),
    );
    let endpoints = [(source_pool.endpoint(), source_probe), (target_pool.endpoint(), target_probe)]
        .into_iter()
        .map(|(endpoint, probe)| EndpointObservation {
            side: endpoint.side,
            address: endpoint.address(),
            user: endpoint.user.clone(),
            outcome: match probe {
                Ok(reached) => Ok(Reached { server_version: reached.server_version, tls: reached.tls }),
                Err(error) => Err(Unreachable { problem: error.to_string(), hint: error.hint(endpoint.side) }),
            },
        })
        .collect();
    let source_state = source_state.map_err(|e| problems.extend(e)).ok();
    let extensions = extensions.map_err(|e| problems.extend(e)).ok();
    let roles = roles.map_err(|e| problems.extend(e)).ok();
    let sizing = sizing.map_err(|e| problems.extend(e)).ok();
    let (Some(source), Some(extensions), Some(roles), Some(sizing)) = (source_state, extensions, roles, sizing) else {
        return Err(RestFailure { problems, server_read });
    };
    Ok(Rest {
        cluster,
        server,
        replicas,
        endpoints,
        source,
        extensions,
        roles,
        sizing,
        databases: Databases { source: source_pool.endpoint().clone(), target: target_pool.endpoint().clone() },
    })
}

/// The same credential problem is often reported by two calls to one cloud; say it once.
fn dedup(problems: &mut Vec<UserError>) {
    let mut seen = Vec::new();
    problems.retain(|p| {
        let new = !seen.contains(&p.message);
        seen.push(p.message.clone());
        new
    });
}

fn endpoint(
    side: Side,
    connection: &Connection,
    password: &Password,
    host: Option<String>,
    port: Option<u16>,
    database: String,
) -> Result<Endpoint, UserError> {
    let key = format!("{}.connection", side.name());
    let host = host.ok_or_else(|| {
        UserError::new(format!("{key}.host is not set and the cloud API reports no endpoint"))
            .hint(format!("set {key}.host and {key}.port in the spec"))
    })?;
    Ok(Endpoint {
        side,
        host,
        port: connection.port.or(port).unwrap_or(5432),
        user: connection.user.clone(),
        database,
        password: password.clone(),
        sslmode: connection.sslmode,
    })
}
