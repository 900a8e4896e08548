//! What `DescribeDBClusterParameters` is asked for, checked on our side: the `Source` and `parameter-name`
//! filters are applied again to every answer, because not every endpoint that speaks the RDS API honours
//! them (moto ignores both, so every parameter of a group would look user-set). Pure: works on the
//! plain model's [`Parameter`], after the SDK shapes have been converted.

use super::ParameterSource;
use crate::model::cluster::Parameter;

/// Keeps the parameters the request asked for. A parameter whose `Source` differs from the requested one
/// is dropped; one that reports no `Source` at all is kept, trusting the service's filter where the answer
/// says nothing against it (RDS always reports it; an emulator's values set through
/// `ModifyDBClusterParameterGroup` may not). `names` empty means every name.
pub(super) fn retain_requested(
    mut parameters: Vec<Parameter>,
    source: Option<ParameterSource>,
    names: &[&str],
) -> Vec<Parameter> {
    parameters.retain(|p| {
        let source_ok = match (source, p.source.as_deref()) {
            (Some(wanted), Some(reported)) => reported == wanted.as_str(),
            _ => true,
        };
        source_ok && (names.is_empty() || names.contains(&p.name.as_str()))
    });
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cluster::ApplyType;

    fn parameter(name: &str, source: Option<&str>) -> Parameter {
        Parameter {
            name: name.into(),
            value: Some("1".into()),
            source: source.map(str::to_string),
            apply_type: ApplyType::Dynamic,
            data_type: None,
            allowed_values: None,
            is_modifiable: true,
        }
    }

    #[test]
    fn answers_are_filtered_as_requested() {
        use ParameterSource::*;
        let listing = || {
            vec![
                parameter("work_mem", Some("user")),
                parameter("max_wal_senders", Some("engine-default")),
                parameter("rds.extensions", Some("system")),
                parameter("statement_timeout", None),
            ]
        };
        // (asked source, asked names, names kept)
        let cases: &[(Option<ParameterSource>, &[&str], &[&str])] = &[
            (None, &[], &["work_mem", "max_wal_senders", "rds.extensions", "statement_timeout"]),
            (Some(User), &[], &["work_mem", "statement_timeout"]),
            (Some(EngineDefault), &[], &["max_wal_senders", "statement_timeout"]),
            (Some(System), &[], &["rds.extensions", "statement_timeout"]),
            (None, &["max_wal_senders", "absent"], &["max_wal_senders"]),
            (Some(User), &["max_wal_senders"], &[]),
            (Some(User), &["work_mem", "statement_timeout"], &["work_mem", "statement_timeout"]),
        ];
        for (source, names, kept) in cases {
            let got: Vec<String> = retain_requested(listing(), *source, names).into_iter().map(|p| p.name).collect();
            assert_eq!(got, *kept, "source {source:?}, names {names:?}");
        }
    }
}
