//! The lower bounds the timings are held against: the critical paths of `plan` and `apply` in round
//! trips, from what one PostgreSQL connection, statement, RDS page and ARM operation cost at the least.

use migprep_testkit::arm::Timing;
use migprep_testkit::rds::CLOUD_LIKE_REBOOT;
use migprep_testkit::scenario::{CLUSTER, SERVER};
use std::collections::BTreeMap;
use std::time::Duration;

/// Round trips of one PostgreSQL connection as migprep opens it (`sslmode` require or verify-full,
/// password auth): TCP handshake, SSLRequest, TLS 1.3 handshake (the client's Finished goes out with the
/// startup message), and SCRAM-SHA-256: startup → SASL, client-first → server-first, client-final →
/// server-final + ReadyForQuery.
const PG_CONNECT_ROUND_TRIPS: u32 = 6;
/// Round trips of one statement: at least one, whatever the protocol (migprep sends Parse, Bind,
/// Describe, Execute and Sync in one flight, with the parameter types given, so it needs no more).
const PG_QUERY_ROUND_TRIPS: u32 = 1;
/// Requests of one ARM write on a server, at the least: the write, then one poll that finds it done.
const ARM_OPERATION_ROUND_TRIPS: u32 = 2;
/// Parameters one `ModifyDBClusterParameterGroup` call may set.
const RDS_PARAMETERS_PER_CALL: u32 = 20;
/// The largest page RDS hands out (`MaxRecords`) and ARM's configuration page in the stand-in.
const RDS_PAGE: u32 = 100;
const ARM_CONFIGURATIONS: u32 = 415;
const ARM_PAGE: u32 = 100;

/// The critical path of `plan`, in round trips: the longest chain of requests that must follow one
/// another, whatever runs concurrently. `user_parameters` is the number of user-set values of the
/// cluster's group; `writer_from_api` whether the source's address comes from DescribeDBClusters (else
/// the spec gives host and port). Returns the chains, longest first.
pub(crate) fn plan_chains(user_parameters: u32, writer_from_api: bool) -> Vec<(String, u32)> {
    let connect = PG_CONNECT_ROUND_TRIPS;
    let query = PG_QUERY_ROUND_TRIPS;
    let rds_pages = user_parameters.div_ceil(RDS_PAGE).max(1);
    let arm_pages = ARM_CONFIGURATIONS.div_ceil(ARM_PAGE);
    let source = if writer_from_api {
        (
            format!("DescribeDBClusters (writer endpoint) → PostgreSQL connect ({connect}) → one statement ({query})"),
            1 + connect + query,
        )
    } else {
        (
            format!("source PostgreSQL connect ({connect}, address in the spec) → one statement ({query})"),
            connect + query,
        )
    };
    let mut chains = vec![
        source,
        (format!("target PostgreSQL connect ({connect}) → one statement ({query})"), connect + query),
        (format!("ARM token → configurations, {arm_pages} pages by nextLink"), 1 + arm_pages),
        (
            format!("DescribeDBClusters (group name) → DescribeDBClusterParameters, {rds_pages} page(s) by Marker"),
            1 + rds_pages,
        ),
    ];
    chains.sort_by_key(|c| std::cmp::Reverse(c.1));
    chains
}

/// The critical path of `apply`, in round trips: its plan's, then the longest chain of writes that
/// must follow one another. On the source: create the migration group, set its values (20 per call),
/// attach it, reboot the writer, and read it back available. On the target's server, one operation at
/// a time (ARM refuses a second while one runs), each a write and a poll that finds it done. Waiting for
/// operations, reboots and restarts to finish is not latency and is not counted: that part of apply's
/// time shows at 0 ms. Returns the chains, longest first.
pub(crate) fn apply_chains(plan: &serde_json::Value) -> Vec<(String, u32)> {
    let runnable: Vec<&str> = plan["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .filter(|c| c["pending"].is_null() && c["action"] != "blocker")
                .filter_map(|c| c["address"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let count = |prefix: &str| runnable.iter().filter(|a| a.starts_with(prefix)).count() as u32;
    let observe = plan_chains(0, true)[0].1;
    let parameters = count(&format!("aws.cluster/{CLUSTER}/parameter/"));
    let source = count("aws.parameter_group/")
        + parameters.div_ceil(RDS_PARAMETERS_PER_CALL)
        + count(&format!("aws.cluster/{CLUSTER}/parameter_group"))
        + 2 * count(&format!("aws.cluster/{CLUSTER}/writer"));
    let operations = count(&format!("azure.server/{SERVER}/")) - count(&format!("azure.server/{SERVER}/replica/"));
    let mut chains = vec![
        (
            format!(
                "plan ({observe}) → the server's {operations} operations one after another, \
                 {ARM_OPERATION_ROUND_TRIPS} each"
            ),
            observe + operations * ARM_OPERATION_ROUND_TRIPS,
        ),
        (
            format!("plan ({observe}) → create group, {parameters} values, attach, reboot and read back"),
            observe + source,
        ),
    ];
    chains.sort_by_key(|c| std::cmp::Reverse(c.1));
    chains
}

/// How long one change of a plan takes in the cloud-like profile: its operation's duration in the
/// stand-ins (ARM operations per kind, the writer's reboot); the requests around it are latency and
/// counted apart.
fn profile_duration(change: &serde_json::Value, timing: &Timing) -> Duration {
    let target = &change["operation"]["target"];
    let source = &change["operation"]["source"];
    match (target["op"].as_str(), source["op"].as_str()) {
        (Some("set_high_availability"), _) if target["mode"] == "Disabled" => timing.high_availability_disable,
        (Some("set_high_availability"), _) => timing.high_availability_enable,
        (Some("set_configuration"), _) => timing.configuration,
        (Some("restart"), _) => timing.restart,
        (Some("promote_replica"), _) => timing.replica_promote,
        (Some("delete_replica"), _) => timing.replica_delete,
        (Some("create_replica"), _) => timing.replica_create,
        (Some("resize"), _) => timing.resize,
        (Some("grow_storage"), _) => timing.storage,
        (_, Some("reboot_writer")) => CLOUD_LIKE_REBOOT,
        _ => Duration::ZERO,
    }
}

/// The critical path of `apply`'s changes in the cloud-like profile: the longer of the longest chain of
/// `depends_on` (each change weighted by its operation's duration) and the sum of the operations on one
/// server, which ARM runs one at a time. A lower bound of the time after the plan is made; returns it and
/// the chain that sets it.
pub(crate) fn apply_critical_path(plan: &serde_json::Value, timing: &Timing) -> (Duration, String) {
    let changes: Vec<&serde_json::Value> = plan["changes"]
        .as_array()
        .map(|changes| changes.iter().filter(|c| c["pending"].is_null() && c["action"] != "blocker").collect())
        .unwrap_or_default();
    let by_address: BTreeMap<&str, &serde_json::Value> =
        changes.iter().filter_map(|c| Some((c["address"].as_str()?, *c))).collect();
    // Longest finishing time of each change along its dependencies (the plan has no cycles).
    fn finish<'a>(
        address: &'a str,
        by_address: &BTreeMap<&'a str, &'a serde_json::Value>,
        timing: &Timing,
        memo: &mut BTreeMap<&'a str, (Duration, Vec<&'a str>)>,
    ) -> (Duration, Vec<&'a str>) {
        if let Some(known) = memo.get(address) {
            return known.clone();
        }
        let change = by_address[address];
        let mut best = (Duration::ZERO, Vec::new());
        for dependency in change["depends_on"].as_array().into_iter().flatten().filter_map(|d| d.as_str()) {
            if by_address.contains_key(dependency) {
                let candidate = finish(dependency, by_address, timing, memo);
                if candidate.0 > best.0 {
                    best = candidate;
                }
            }
        }
        let (mut total, mut path) = best;
        total += profile_duration(change, timing);
        path.push(address);
        memo.insert(address, (total, path.clone()));
        (total, path)
    }
    let mut memo = BTreeMap::new();
    let mut critical = (Duration::ZERO, String::from("nothing to do"));
    for address in by_address.keys() {
        let (total, path) = finish(address, &by_address, timing, &mut memo);
        if total > critical.0 {
            let steps: Vec<String> = path
                .iter()
                .map(|a| format!("{a} ({:.2} s)", profile_duration(by_address[a], timing).as_secs_f64()))
                .collect();
            critical = (total, format!("dependencies: {}", steps.join(" → ")));
        }
    }
    // The server's own operations, one at a time (replicas are servers of their own).
    let server = format!("azure.server/{SERVER}/");
    let on_server: Vec<&&serde_json::Value> = changes
        .iter()
        .filter(|c| c["address"].as_str().is_some_and(|a| a.starts_with(&server) && !a.contains("/replica/")))
        .collect();
    let serial: Duration = on_server.iter().map(|c| profile_duration(c, timing)).sum();
    if serial > critical.0 {
        critical = (serial, format!("the {} operations on {SERVER}, one at a time", on_server.len()));
    }
    critical
}
