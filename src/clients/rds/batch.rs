//! How parameter changes are split into `ModifyDBClusterParameterGroup` calls: in plan order, at most
//! [`MAX_PARAMETERS_PER_CALL`] a call, so `n` changes take ⌈n/20⌉ calls.

use super::{MAX_PARAMETERS_PER_CALL, ParameterChange};

/// The calls for `changes`, each at most [`MAX_PARAMETERS_PER_CALL`] changes, in order.
pub(super) fn batches(changes: &[ParameterChange]) -> std::slice::Chunks<'_, ParameterChange> {
    changes.chunks(MAX_PARAMETERS_PER_CALL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cluster::ApplyType;

    fn changes(n: usize) -> Vec<ParameterChange> {
        (0..n)
            .map(|i| ParameterChange { name: format!("p{i}"), value: i.to_string(), apply_type: ApplyType::Dynamic })
            .collect()
    }

    #[test]
    fn n_changes_take_the_ceiling_of_n_over_twenty_calls_and_keep_every_change_in_order() {
        for (n, calls) in [(0, 0), (1, 1), (20, 1), (21, 2), (40, 2), (45, 3), (224, 12)] {
            let all = changes(n);
            let split: Vec<&[ParameterChange]> = batches(&all).collect();
            assert_eq!(split.len(), calls, "{n} changes");
            assert!(split.iter().all(|call| !call.is_empty() && call.len() <= MAX_PARAMETERS_PER_CALL), "{n}");
            let names: Vec<&str> = split.iter().flat_map(|call| call.iter().map(|c| c.name.as_str())).collect();
            let expected: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, expected, "{n} changes, in order, each once");
        }
    }
}
