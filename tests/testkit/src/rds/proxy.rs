//! The HTTP side of the fidelity layer: a loopback server that takes RDS Query requests, applies the
//! injected faults and latency, answers the parameter-group actions itself ([`Groups`]), validates and
//! forwards the cluster and instance actions to moto, and rewrites what moto gets wrong in its answers
//! (cluster group name, member `DBClusterParameterGroupStatus`, instance status during a reboot, cluster
//! endpoint and port).
//!
//! Cluster and instance facts (which clusters exist, their group, members, writer, engine version) are
//! always read back from moto, so moto stays the single owner of them; the layer keeps only what moto
//! cannot model: pending-reboot flags, reboots in progress, endpoints and hooks per cluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::catalog;
use super::groups::Groups;
use super::query::{Query, paginate};
use super::xml::{self, Element, RdsError};
use super::{Fault, RdsConfig, RequestRecord, SettingsHook};

/// Marks the stand-in's own seeding requests: not logged, never faulted or delayed.
pub(crate) const INTERNAL_HEADER: &str = "x-migprep-standin-internal";

#[derive(Clone, Default)]
pub(crate) struct ClusterExtra {
    pub endpoint_port: Option<u16>,
    pub reboot_hook: Option<SettingsHook>,
    pub reload_hook: Option<SettingsHook>,
}

struct Reboot {
    /// Describes that still show `rebooting`.
    describes_left: u32,
    /// The reboot hook (the writer's PostgreSQL restart) has not finished yet.
    hook_running: bool,
    failed: bool,
    /// Shows `rebooting` at least until then (see [`State::reboot_duration`]).
    until: Option<std::time::Instant>,
}

pub(crate) struct FaultRule {
    pub action: Option<String>,
    pub remaining: usize,
    pub fault: Fault,
}

pub(crate) struct State {
    pub groups: Groups,
    pub clusters: HashMap<String, ClusterExtra>,
    /// Instances whose member status is `pending-reboot`.
    pending: HashSet<String>,
    reboots: HashMap<String, Reboot>,
    /// Instances whose reboot hook failed: `incompatible-parameters`, as RDS reports an instance that
    /// cannot start with its parameters.
    failed: HashSet<String>,
    pub faults: Vec<FaultRule>,
    pub latency: HashMap<Option<String>, Duration>,
    /// How long a reboot takes at least, as well as its describes and hook (`None`: no minimum).
    pub reboot_duration: Option<Duration>,
    pub log: Vec<RequestRecord>,
    pub hook_errors: Vec<String>,
}

impl State {
    pub fn new(region: &str) -> Self {
        State {
            groups: Groups::new(region),
            clusters: HashMap::new(),
            pending: HashSet::new(),
            reboots: HashMap::new(),
            failed: HashSet::new(),
            faults: Vec::new(),
            latency: HashMap::new(),
            reboot_duration: None,
            log: Vec::new(),
            hook_errors: Vec::new(),
        }
    }

    /// The status to show for an instance instead of moto's, if any. `tick`: this is a describe, which
    /// moves a reboot along (it ends once its describes are used up and its hook has finished).
    fn observe(&mut self, id: &str, tick: bool) -> Option<&'static str> {
        if let Some(r) = self.reboots.get_mut(id) {
            if !tick {
                return Some("rebooting");
            }
            if r.describes_left > 0 {
                r.describes_left -= 1;
                return Some("rebooting");
            }
            if r.hook_running || r.until.is_some_and(|until| std::time::Instant::now() < until) {
                return Some("rebooting");
            }
            let failed = r.failed;
            self.reboots.remove(id);
            if failed {
                self.failed.insert(id.to_string());
            } else {
                self.pending.remove(id);
                self.failed.remove(id);
            }
        }
        self.failed.contains(id).then_some("incompatible-parameters")
    }

    fn take_fault(&mut self, action: &str) -> Option<Fault> {
        let rule =
            self.faults.iter_mut().find(|r| r.remaining > 0 && r.action.as_deref().is_none_or(|a| a == action))?;
        rule.remaining -= 1;
        let fault = rule.fault;
        self.faults.retain(|r| r.remaining > 0);
        Some(fault)
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub config: RdsConfig,
    pub moto_url: String,
    pub http: reqwest::Client,
}

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

type Reply = (u16, String);

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            // Errors here are dropped connections (injected, or the client going away).
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, DropConnection> {
    let internal = req.headers().contains_key(INTERNAL_HEADER);
    let mut forward_headers = Vec::new();
    for name in ["authorization", "content-type", "x-amz-date", "x-moto-account-id"] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            forward_headers.push((name, v.to_string()));
        }
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    let q = Query::parse(&body);
    let action = q.action().to_string();

    let mut log_index = None;
    if !internal {
        let (latency, fault) = {
            let mut st = shared.state.lock().unwrap();
            let latency =
                st.latency.get(&Some(action.clone())).or_else(|| st.latency.get(&None)).copied().unwrap_or_default();
            let fault = st.take_fault(&action);
            st.log.push(RequestRecord { action: action.clone(), status: None, fault, params: q.pairs().to_vec() });
            log_index = Some(st.log.len() - 1);
            (latency, fault)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(fault) = fault {
            let (status, body) = match fault {
                Fault::DropConnection => return Err(DropConnection),
                Fault::Throttle => (400, RdsError::new(400, "Throttling", "Rate exceeded").to_xml()),
                Fault::ServerError(code) => {
                    let name = if code == 503 { "ServiceUnavailable" } else { "InternalFailure" };
                    let message = "The request processing has failed because of an unknown error, \
                                   exception or failure.";
                    (code, RdsError::new(code, name, message).to_xml())
                }
            };
            record_status(&shared, log_index, status);
            return Ok(xml_response(status, body));
        }
    }

    let ctx = Ctx { shared: &shared, headers: &forward_headers };
    let (status, body) = dispatch(&ctx, q).await;
    record_status(&shared, log_index, status);
    Ok(xml_response(status, body))
}

fn record_status(shared: &Shared, index: Option<usize>, status: u16) {
    if let Some(i) = index {
        shared.state.lock().unwrap().log[i].status = Some(status);
    }
}

fn xml_response(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", xml::request_id())
        .body(Full::new(Bytes::from(body)))
        .expect("valid response parts")
}

/// One request's view of the stand-in: shared state plus the caller's headers for calls to moto (moto
/// takes the region from the `Authorization` credential scope).
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    headers: &'a [(&'static str, String)],
}

/// A cluster as moto reports it.
struct ClusterInfo {
    id: String,
    group: String,
    engine_version: String,
    /// `(instance id, is writer)`.
    members: Vec<(String, bool)>,
}

impl ClusterInfo {
    fn from_xml(c: &Element) -> Self {
        let members = c
            .descendants("DBClusterMember")
            .into_iter()
            .map(|m| {
                (
                    m.child_text("DBInstanceIdentifier").unwrap_or_default(),
                    m.child_text("IsClusterWriter").as_deref() == Some("true"),
                )
            })
            .collect();
        ClusterInfo {
            id: c.child_text("DBClusterIdentifier").unwrap_or_default(),
            group: c.child_text("DBClusterParameterGroup").unwrap_or_default(),
            engine_version: c.child_text("EngineVersion").unwrap_or_default(),
            members,
        }
    }
}

fn internal_failure(e: impl std::fmt::Display) -> RdsError {
    RdsError::new(500, "InternalFailure", format!("RDS stand-in: {e}"))
}

impl Ctx<'_> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    async fn moto(&self, q: &Query) -> Result<Reply, RdsError> {
        let mut req = self.shared.http.post(&self.shared.moto_url).body(q.encode());
        let mut has_auth = false;
        for (name, value) in self.headers {
            has_auth |= *name == "authorization";
            req = req.header(*name, value);
        }
        if !has_auth {
            req = req.header("authorization", auth_header(&self.shared.config.region));
        }
        if !self.headers.iter().any(|(n, _)| *n == "content-type") {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let resp = req.send().await.map_err(internal_failure)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(internal_failure)?;
        Ok((status, body))
    }

    async fn clusters(&self, id: Option<&str>) -> Result<Vec<ClusterInfo>, RdsError> {
        let mut pairs = vec![("Action".to_string(), "DescribeDBClusters".to_string())];
        pairs.push(("Version".into(), "2014-10-31".into()));
        if let Some(id) = id {
            pairs.push(("DBClusterIdentifier".into(), id.into()));
        }
        let (status, body) = self.moto(&Query::from_pairs(pairs)).await?;
        if status == 404 {
            return Ok(Vec::new());
        }
        if status != 200 {
            return Err(internal_failure(format!("moto DescribeDBClusters answered {status}: {body}")));
        }
        let root = xml::parse(&body).map_err(internal_failure)?;
        Ok(root.descendants("DBCluster").into_iter().map(ClusterInfo::from_xml).collect())
    }

    async fn cluster(&self, id: &str) -> Result<ClusterInfo, RdsError> {
        self.clusters(Some(id)).await?.into_iter().find(|c| c.id == id).ok_or_else(|| RdsError::cluster_not_found(id))
    }

    /// Forwards to moto and rewrites any cluster and instance in a successful answer.
    async fn forward(&self, q: &Query) -> Result<Reply, RdsError> {
        let reply = self.moto(q).await?;
        let describe = q.action() == "DescribeDBInstances" || q.action() == "DescribeDBClusters";
        Ok(self.rewrite_reply(reply, describe))
    }

    fn rewrite_reply(&self, (status, body): Reply, describe: bool) -> Reply {
        if status != 200 {
            return (status, body);
        }
        let Ok(mut root) = xml::parse(&body) else {
            return (status, body);
        };
        self.rewrite(&mut root, describe);
        (status, root.to_xml())
    }

    fn rewrite(&self, root: &mut Element, describe: bool) {
        let mut st = self.state();
        root.for_each_mut("DBCluster", &mut |c| rewrite_cluster(&mut st, c, describe));
        root.for_each_mut("DBInstance", &mut |i| {
            let id = i.child_text("DBInstanceIdentifier").unwrap_or_default();
            if let Some(status) = st.observe(&id, describe) {
                i.set_child_text("DBInstanceStatus", status);
            }
        });
    }
}

fn rewrite_cluster(st: &mut State, c: &mut Element, describe: bool) {
    let id = c.child_text("DBClusterIdentifier").unwrap_or_default();
    // moto names `default.aurora8.0` for any engine when no group was given; the layer passes the right
    // default on create, this catches clusters that reached moto some other way.
    if c.child_text("Engine").as_deref() == Some(catalog::ENGINE)
        && c.child_text("DBClusterParameterGroup").is_none_or(|g| g == "default.aurora8.0")
        && let Some(family) = c.child_text("EngineVersion").and_then(|v| catalog::family_for(&v))
    {
        c.set_child_text("DBClusterParameterGroup", &catalog::default_group_name(&family));
    }
    if let Some(port) = st.clusters.get(&id).and_then(|x| x.endpoint_port) {
        // One local PostgreSQL stands in for the whole cluster, so both endpoints lead to it.
        c.set_child_text("Endpoint", "127.0.0.1");
        c.set_child_text("ReaderEndpoint", "127.0.0.1");
        c.set_child_text("Port", &port.to_string());
    }
    if let Some(members) = c.child_mut("DBClusterMembers") {
        for m in members.elements_mut() {
            let iid = m.child_text("DBInstanceIdentifier").unwrap_or_default();
            st.observe(&iid, describe);
            let status = if st.pending.contains(&iid) { "pending-reboot" } else { "in-sync" };
            m.set_child_text("DBClusterParameterGroupStatus", status);
        }
    }
}

/// A SigV4-shaped header naming the region and service; moto routes on it and checks no signature.
pub(crate) fn auth_header(region: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential=standin/20240101/{region}/rds/aws4_request, SignedHeaders=host, Signature=0")
}

async fn dispatch(ctx: &Ctx<'_>, q: Query) -> Reply {
    let ok = |body: String| (200, body);
    let result = match q.action() {
        "CreateDBClusterParameterGroup" => ctx.state().groups.create(&q).map(ok),
        "CopyDBClusterParameterGroup" => ctx.state().groups.copy(&q).map(ok),
        "DescribeDBClusterParameterGroups" => ctx.state().groups.describe_groups(&q).map(ok),
        "DescribeDBClusterParameters" => ctx.state().groups.describe_parameters(&q).map(ok),
        "DescribeEngineDefaultClusterParameters" => Groups::engine_defaults(&q).map(ok),
        "DescribeDBEngineVersions" => Groups::engine_versions(&q).map(ok),
        "ModifyDBClusterParameterGroup" | "ResetDBClusterParameterGroup" => modify_group(ctx, &q).await,
        "DeleteDBClusterParameterGroup" => delete_group(ctx, &q).await,
        "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource"
            if q.get("ResourceName").is_some_and(|r| r.contains(":cluster-pg:")) =>
        {
            ctx.state().groups.tags(&q).map(ok)
        }
        "CreateDBCluster" => create_cluster(ctx, q).await,
        "ModifyDBCluster" => modify_cluster(ctx, q).await,
        "DescribeDBClusters" => describe_clusters(ctx, q).await,
        "DeleteDBCluster" => delete_cluster(ctx, &q).await,
        "RebootDBInstance" => reboot_instance(ctx, &q).await,
        "RebootDBCluster" => Err(RdsError::invalid_combination(
            "RebootDBCluster is only supported for Multi-AZ DB clusters. To reboot an Aurora DB cluster, reboot \
             its DB instances with RebootDBInstance.",
        )),
        _ => ctx.forward(&q).await,
    };
    result.unwrap_or_else(|e| (e.status, e.to_xml()))
}

async fn modify_group(ctx: &Ctx<'_>, q: &Query) -> Result<Reply, RdsError> {
    let (body, change) = {
        let mut st = ctx.state();
        if q.action() == "ModifyDBClusterParameterGroup" { st.groups.modify(q)? } else { st.groups.reset(q)? }
    };
    if change.needs_reboot || !change.applied_now.is_empty() {
        // The group is changed either way; a failure to find its clusters only loses the side effects.
        match ctx.clusters(None).await {
            Ok(clusters) => apply_group_change(ctx, &clusters, &change).await,
            Err(e) => ctx.state().hook_errors.push(format!("after {}: {}", q.action(), e.message)),
        }
    }
    Ok((200, body))
}

async fn apply_group_change(ctx: &Ctx<'_>, clusters: &[ClusterInfo], change: &super::groups::Change) {
    let mut reloads = Vec::new();
    {
        let mut st = ctx.state();
        let Some(group) = st.groups.get(&change.group) else {
            return;
        };
        let effective = group.effective_values();
        let settings = catalog::postgres_settings(&effective, Some(&change.applied_now));
        for c in clusters.iter().filter(|c| c.group == change.group) {
            if change.needs_reboot {
                st.pending.extend(c.members.iter().map(|(id, _)| id.clone()));
            }
            if !change.applied_now.is_empty()
                && !settings.is_empty()
                && let Some(hook) = st.clusters.get(&c.id).and_then(|x| x.reload_hook.clone())
            {
                reloads.push((c.id.clone(), hook, settings.clone()));
            }
        }
    }
    // Dynamic parameters applied `immediate` take effect without a reboot: the writer reloads.
    for (cluster, hook, settings) in reloads {
        if let Err(e) = hook(settings).await {
            tracing::error!(cluster, error = %e, "RDS stand-in reload hook failed");
            ctx.state().hook_errors.push(format!("reload of {cluster}: {e:#}"));
        }
    }
}

async fn delete_group(ctx: &Ctx<'_>, q: &Query) -> Result<Reply, RdsError> {
    let name = q.require("DBClusterParameterGroupName")?.to_ascii_lowercase();
    let using: Vec<String> = ctx.clusters(None).await?.into_iter().filter(|c| c.group == name).map(|c| c.id).collect();
    let body = ctx.state().groups.delete(q, &using)?;
    Ok((200, body))
}

/// Checks the group a cluster is to use: it exists and belongs to the cluster's family.
fn check_cluster_group(st: &State, name: &str, family: &str) -> Result<String, RdsError> {
    let group = st.groups.get(name).ok_or_else(|| {
        RdsError::new(404, "DBClusterParameterGroupNotFound", format!("DBClusterParameterGroup {name} not found."))
    })?;
    if group.family != family {
        return Err(RdsError::invalid_combination(format!(
            "The parameter group {} with DBParameterGroupFamily {} can't be used for this DB cluster. Use a \
             parameter group with DBParameterGroupFamily {family}.",
            group.name, group.family
        )));
    }
    Ok(group.name.clone())
}

async fn create_cluster(ctx: &Ctx<'_>, mut q: Query) -> Result<Reply, RdsError> {
    if q.get("Engine") == Some(catalog::ENGINE) {
        let version = q.get("EngineVersion").unwrap_or(catalog::DEFAULT_ENGINE_VERSION).to_string();
        let family = catalog::family_for(&version)
            .ok_or_else(|| RdsError::invalid_value(format!("Cannot find version {version} for {}", catalog::ENGINE)))?;
        let group = match q.get("DBClusterParameterGroupName") {
            Some(name) => check_cluster_group(&ctx.state(), name, &family)?,
            None => catalog::default_group_name(&family),
        };
        q.set("EngineVersion", &version);
        q.set("DBClusterParameterGroupName", &group);
    }
    ctx.forward(&q).await
}

async fn modify_cluster(ctx: &Ctx<'_>, mut q: Query) -> Result<Reply, RdsError> {
    let id = q.require("DBClusterIdentifier")?.to_string();
    // Checked here because moto answers HTTP 500 for a missing cluster and loses a cluster when a
    // modification fails half-way (G8, G12).
    let info = ctx.cluster(&id).await?;
    let mut attach = None;
    if let Some(name) = q.get("DBClusterParameterGroupName") {
        let family = catalog::family_for(&info.engine_version).unwrap_or_default();
        let name = check_cluster_group(&ctx.state(), name, &family)?;
        q.set("DBClusterParameterGroupName", &name);
        attach = Some(name);
    }
    let reply = ctx.moto(&q).await?;
    if reply.0 == 200
        && let Some(name) = attach
        && name != info.group
    {
        // A newly associated group takes effect only after the instances reboot, whatever its contents
        // and whatever ApplyImmediately says (aws.md §1.4).
        ctx.state().pending.extend(info.members.iter().map(|(m, _)| m.clone()));
    }
    Ok(ctx.rewrite_reply(reply, false))
}

async fn describe_clusters(ctx: &Ctx<'_>, mut q: Query) -> Result<Reply, RdsError> {
    // moto ignores MaxRecords and Marker; the layer checks them and pages moto's full list.
    let paging =
        Query::from_pairs(q.pairs().iter().filter(|(k, _)| k == "MaxRecords" || k == "Marker").cloned().collect());
    if let Some(raw) = paging.get("MaxRecords")
        && !raw.parse::<i64>().is_ok_and(|n| (20..=100).contains(&n))
    {
        return Err(RdsError::invalid_value(format!("Invalid value {raw} for MaxRecords. Must be between 20 and 100")));
    }
    q.remove("MaxRecords");
    q.remove("Marker");
    let (status, body) = ctx.forward(&q).await?;
    if status != 200 {
        return Ok((status, body));
    }
    let mut root = xml::parse(&body).map_err(internal_failure)?;
    let Some(result) = root.child_mut("DescribeDBClustersResult") else {
        return Ok((status, body));
    };
    let clusters: Vec<Element> =
        result.child("DBClusters").map(|l| l.elements().cloned().collect()).unwrap_or_default();
    let (page, marker) = paginate(clusters, &paging)?;
    let mut list = Element::new("DBClusters");
    for c in page {
        list.push(c);
    }
    result.children.clear();
    result.push(list);
    result.push_opt("Marker", marker.as_deref());
    Ok((200, root.to_xml()))
}

async fn delete_cluster(ctx: &Ctx<'_>, q: &Query) -> Result<Reply, RdsError> {
    let id = q.require("DBClusterIdentifier")?.to_string();
    let reply = ctx.forward(q).await?;
    if reply.0 == 200 {
        ctx.state().clusters.remove(&id);
    }
    Ok(reply)
}

async fn reboot_instance(ctx: &Ctx<'_>, q: &Query) -> Result<Reply, RdsError> {
    let id = q.require("DBInstanceIdentifier")?.to_string();
    if ctx.state().reboots.contains_key(&id) {
        return Err(RdsError::new(
            400,
            "InvalidDBInstanceState",
            format!("DB instance {id} is not in available state."),
        ));
    }
    let (status, body) = ctx.moto(q).await?;
    if status != 200 {
        return Ok((status, body));
    }
    let mut root = xml::parse(&body).map_err(internal_failure)?;
    let cluster_id = root.descendants("DBInstance").first().and_then(|i| i.child_text("DBClusterIdentifier"));
    let info = match cluster_id {
        Some(cid) => Some(ctx.cluster(&cid).await?),
        None => None,
    };
    let describes = ctx.shared.config.reboot_describes;
    let mut st = ctx.state();
    let mut rebooting = vec![id.clone()];
    let mut hook = None;
    if let Some(info) = &info {
        let is_writer = info.members.iter().any(|(m, w)| *m == id && *w);
        if is_writer {
            // Before read availability, a writer reboot restarts every reader too (aws.md §1.2).
            if !catalog::has_read_availability(&info.engine_version) {
                rebooting.extend(info.members.iter().filter(|(m, _)| *m != id).map(|(m, _)| m.clone()));
            }
            if let (Some(h), Some(group)) =
                (st.clusters.get(&info.id).and_then(|x| x.reboot_hook.clone()), st.groups.get(&info.group))
            {
                hook = Some((h, catalog::postgres_settings(&group.effective_values(), None)));
            }
        }
    }
    for m in &rebooting {
        st.failed.remove(m);
        let until = st.reboot_duration.map(|duration| std::time::Instant::now() + duration);
        st.reboots.insert(m.clone(), Reboot { describes_left: describes, hook_running: false, failed: false, until });
    }
    if let Some((h, settings)) = hook {
        st.reboots.get_mut(&id).expect("just inserted").hook_running = true;
        let shared = ctx.shared.clone();
        let instance = id.clone();
        // The restart runs while the instance shows `rebooting`, as a real reboot does.
        tokio::spawn(async move {
            let result = h(settings).await;
            let mut st = shared.state.lock().unwrap();
            if let Err(e) = &result {
                tracing::error!(instance, error = %e, "RDS stand-in reboot hook failed");
                st.hook_errors.push(format!("reboot of {instance}: {e:#}"));
            }
            if let Some(r) = st.reboots.get_mut(&instance) {
                r.hook_running = false;
                r.failed = result.is_err();
            }
        });
    }
    drop(st);
    ctx.rewrite(&mut root, false);
    Ok((200, root.to_xml()))
}
