//! A fleet: several specs worked on in one run, each with its plan (when it got that far) and how it
//! ended. The summary table and the run's exit code are derived from this value. No I/O here.

use super::{Plan, Summary};

/// One spec of the run.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The spec file, as given.
    pub spec: String,
    /// The Aurora cluster and the flexible server, when the spec could be read.
    pub cluster: Option<String>,
    pub server: Option<String>,
    /// The plan, when observation got that far.
    pub plan: Option<Plan>,
    pub result: Result,
}

/// How one spec ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Result {
    /// Planned: nothing to change.
    NoChanges,
    /// Planned: changes to make.
    Changes,
    /// A prerequisite migprep cannot fix.
    Blockers,
    /// Its changes were made.
    Applied,
    /// Nothing was changed: the confirmation was refused.
    Refused,
    /// Ctrl-C: the running steps finished and were recorded.
    Interrupted,
    /// It failed; the error, one line.
    Failed(String),
}

impl Result {
    /// The word in the summary table.
    pub fn word(&self) -> &'static str {
        match self {
            Result::NoChanges => "no changes",
            Result::Changes => "changes",
            Result::Blockers => "blockers",
            Result::Applied => "applied",
            Result::Refused => "refused",
            Result::Interrupted => "interrupted",
            Result::Failed(_) => "failed",
        }
    }

    /// The exit code it stands for alone (changes count only with `--detailed-exitcode`).
    pub fn code(&self, detailed_exitcode: bool) -> u8 {
        match self {
            Result::NoChanges | Result::Applied => 0,
            Result::Changes => {
                if detailed_exitcode {
                    2
                } else {
                    0
                }
            }
            Result::Blockers => 3,
            Result::Interrupted => 130,
            Result::Refused | Result::Failed(_) => 1,
        }
    }
}

impl Entry {
    /// The plan's counts, zero without a plan.
    pub fn summary(&self) -> Summary {
        self.plan.as_ref().map(Plan::summary).unwrap_or_default()
    }

    /// How many warnings the plan carries.
    pub fn warnings(&self) -> usize {
        self.plan.as_ref().map_or(0, |plan| plan.warnings.len())
    }
}

/// The run's exit code: the most severe of its specs' (1 > 130 > 3 > 2 > 0).
pub fn exit_code(entries: &[Entry], detailed_exitcode: bool) -> u8 {
    let severity = |code: u8| match code {
        1 => 4,
        130 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    };
    entries.iter().map(|entry| entry.result.code(detailed_exitcode)).max_by_key(|&code| severity(code)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(result: Result) -> Entry {
        Entry { spec: "a.toml".into(), cluster: None, server: None, plan: None, result }
    }

    #[test]
    fn the_most_severe_result_decides_the_exit_code() {
        let run =
            |results: Vec<Result>, detailed| exit_code(&results.into_iter().map(entry).collect::<Vec<_>>(), detailed);
        assert_eq!(run(vec![Result::NoChanges, Result::Changes], false), 0);
        assert_eq!(run(vec![Result::NoChanges, Result::Changes], true), 2);
        assert_eq!(run(vec![Result::Changes, Result::Blockers, Result::NoChanges], true), 3);
        assert_eq!(run(vec![Result::Blockers, Result::Failed("x".into()), Result::Changes], true), 1);
        assert_eq!(run(vec![], true), 0);
    }
}
