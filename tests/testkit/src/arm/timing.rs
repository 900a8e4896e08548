//! How long the fake's long-running operations take, per kind, when a test or the benchmark asks for
//! time rather than poll counts. [`Timing::cloud_like`] is the documented profile: published real
//! durations divided by [`SCALE`], so that a benchmark run shows what a user waits for, in proportion,
//! in seconds instead of minutes.

use super::model::Change;
use std::time::Duration;

/// Real durations are divided by this in [`Timing::cloud_like`].
pub const SCALE: u32 = 60;

/// The kinds of operation the fake times separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OperationKind {
    HighAvailabilityDisable,
    HighAvailabilityEnable,
    Restart,
    Configuration,
    ReplicaPromote,
    ReplicaDelete,
    ReplicaCreate,
    Resize,
    Storage,
    /// Any other server PATCH (tags, backup retention, network access).
    ServerUpdate,
}

impl OperationKind {
    pub(crate) fn of(change: &Change) -> Self {
        match change {
            Change::Configuration { .. } => OperationKind::Configuration,
            Change::Restart { .. } => OperationKind::Restart,
            Change::Delete => OperationKind::ReplicaDelete,
            Change::CreateReplica => OperationKind::ReplicaCreate,
            Change::Server(server) => match &server.high_availability {
                Some((mode, _)) if mode.eq_ignore_ascii_case("Disabled") => OperationKind::HighAvailabilityDisable,
                Some(_) => OperationKind::HighAvailabilityEnable,
                None if server.promote.is_some() => OperationKind::ReplicaPromote,
                None if server.sku.is_some() => OperationKind::Resize,
                None if server.storage_size_gb.is_some() => OperationKind::Storage,
                None => OperationKind::ServerUpdate,
            },
        }
    }
}

/// Durations per kind, and the `Retry-After` the fake answers polls with while an operation runs.
#[derive(Clone, Debug)]
pub struct Timing {
    pub high_availability_disable: Duration,
    pub high_availability_enable: Duration,
    pub restart: Duration,
    pub configuration: Duration,
    pub replica_promote: Duration,
    pub replica_delete: Duration,
    pub replica_create: Duration,
    pub resize: Duration,
    pub storage: Duration,
    pub server_update: Duration,
    /// Sent as `retry-after-ms` with every 202 and `InProgress` answer (real ARM sends whole seconds in
    /// `Retry-After`; a scaled profile needs finer steps, which ARM's `retry-after-ms` header carries).
    pub retry_after: Duration,
}

impl Timing {
    /// Real durations ÷ [`SCALE`]. Where a figure is an estimate rather than a published one, it says so.
    pub fn cloud_like() -> Self {
        let real = |seconds: u64| Duration::from_millis(seconds * 1000 / u64::from(SCALE));
        Timing {
            // No published figure: Azure's high-availability docs say only that the standby is removed.
            // 5–15 minutes is the range commonly seen on real servers; the midpoint, 10 minutes.
            high_availability_disable: real(10 * 60),
            // No published figure: enabling builds a standby from a backup, so it grows with the data;
            // 20 minutes is an estimate for a small server.
            high_availability_enable: real(20 * 60),
            // No published figure for a restart without failover; 2 minutes is an estimate.
            restart: real(2 * 60),
            // No published figure for a dynamic server parameter; 30 s of ARM operation is an estimate.
            configuration: real(30),
            // "Promote read replicas in Azure Database for PostgreSQL" (learn.microsoft.com,
            // concepts-read-replicas-promote) gives no duration; a planned promotion waits for the replica
            // to catch up. 5 minutes is an estimate.
            replica_promote: real(5 * 60),
            // No published figure for deleting a server; 5 minutes is an estimate.
            replica_delete: real(5 * 60),
            // No published figure: creating a replica restores a backup; 20 minutes is an estimate.
            replica_create: real(20 * 60),
            // "Scaling Resources in Azure Database for PostgreSQL" (learn.microsoft.com,
            // concepts-scaling-resources): a new copy of the server is built and synchronised, then
            // switched to "with a 30-second interruption"; 10 minutes in all is an estimate.
            resize: real(10 * 60),
            // No published figure for storage growth; 2 minutes is an estimate.
            storage: real(2 * 60),
            server_update: real(30),
            // No published figure; 15 s is an estimate of what ARM asks clients to wait between polls.
            retry_after: real(15),
        }
    }

    pub fn duration(&self, kind: OperationKind) -> Duration {
        match kind {
            OperationKind::HighAvailabilityDisable => self.high_availability_disable,
            OperationKind::HighAvailabilityEnable => self.high_availability_enable,
            OperationKind::Restart => self.restart,
            OperationKind::Configuration => self.configuration,
            OperationKind::ReplicaPromote => self.replica_promote,
            OperationKind::ReplicaDelete => self.replica_delete,
            OperationKind::ReplicaCreate => self.replica_create,
            OperationKind::Resize => self.resize,
            OperationKind::Storage => self.storage,
            OperationKind::ServerUpdate => self.server_update,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::model::ServerChange;

    #[test]
    fn the_cloud_like_profile_is_real_time_divided_by_the_scale() {
        let timing = Timing::cloud_like();
        assert_eq!(timing.high_availability_disable * SCALE, Duration::from_secs(10 * 60));
        assert_eq!(timing.retry_after * SCALE, Duration::from_secs(15));
        let disable = Change::Server(ServerChange {
            high_availability: Some(("Disabled".into(), String::new())),
            ..ServerChange::default()
        });
        assert_eq!(OperationKind::of(&disable), OperationKind::HighAvailabilityDisable);
        let promote = Change::Server(ServerChange { promote: Some("Standalone".into()), ..ServerChange::default() });
        assert_eq!(timing.duration(OperationKind::of(&promote)), timing.replica_promote);
        assert_eq!(OperationKind::of(&Change::Restart { with_failover: false }), OperationKind::Restart);
    }
}
