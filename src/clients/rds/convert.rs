//! SDK shapes → the plain model. The only place that reads `aws_sdk_rds::types`.

use crate::model::cluster::{ApplyType, Cluster, Instance, Member, Parameter};

pub(super) fn cluster_from(c: &aws_sdk_rds::types::DbCluster) -> Cluster {
    Cluster {
        id: c.db_cluster_identifier().unwrap_or_default().to_string(),
        engine: c.engine().unwrap_or_default().to_string(),
        engine_version: c.engine_version().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        parameter_group: c.db_cluster_parameter_group().unwrap_or_default().to_string(),
        endpoint: c.endpoint().map(str::to_string),
        port: c.port().and_then(|p| u16::try_from(p).ok()),
        reader_endpoint: c.reader_endpoint().map(str::to_string),
        master_username: c.master_username().map(str::to_string),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| Member {
                instance_id: m.db_instance_identifier().unwrap_or_default().to_string(),
                is_writer: m.is_cluster_writer().unwrap_or(false),
                parameter_group_status: m.db_cluster_parameter_group_status().unwrap_or_default().to_string(),
                instance_class: None,
                publicly_accessible: None,
                status: None,
            })
            .collect(),
    }
}

pub(super) fn instance_from(i: &aws_sdk_rds::types::DbInstance) -> Instance {
    Instance {
        id: i.db_instance_identifier().unwrap_or_default().to_string(),
        cluster: i.db_cluster_identifier().map(str::to_string),
        instance_class: i.db_instance_class().unwrap_or_default().to_string(),
        publicly_accessible: i.publicly_accessible().unwrap_or(false),
        status: i.db_instance_status().unwrap_or_default().to_string(),
    }
}

pub(super) fn parameter_from(p: &aws_sdk_rds::types::Parameter) -> Parameter {
    Parameter {
        name: p.parameter_name().unwrap_or_default().to_string(),
        value: p.parameter_value().map(str::to_string),
        source: p.source().map(str::to_string),
        apply_type: ApplyType::parse(p.apply_type().unwrap_or_default()),
        data_type: p.data_type().map(str::to_string),
        allowed_values: p.allowed_values().map(str::to_string),
        is_modifiable: p.is_modifiable().unwrap_or(false),
    }
}
