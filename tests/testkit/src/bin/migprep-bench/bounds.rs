//! The lower bounds the timings are held against: the critical paths of `plan` and `apply` in round
//! trips, from what one PostgreSQL connection, statement, RDS page and ARM operation cost at the least.

use migprep_testkit::scenario::{CLUSTER, SERVER};

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
/// cluster's group. Returns the chains, longest first.
pub(crate) fn plan_chains(user_parameters: u32) -> Vec<(String, u32)> {
    let connect = PG_CONNECT_ROUND_TRIPS;
    let query = PG_QUERY_ROUND_TRIPS;
    let rds_pages = user_parameters.div_ceil(RDS_PAGE).max(1);
    let arm_pages = ARM_CONFIGURATIONS.div_ceil(ARM_PAGE);
    let mut chains = vec![
        (
            format!("DescribeDBClusters (writer endpoint) → PostgreSQL connect ({connect}) → one statement ({query})"),
            1 + connect + query,
        ),
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
    let observe = plan_chains(0)[0].1;
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
