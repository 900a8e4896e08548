//! Azure's verdict beside migprep's plan: what `validate` reports. Every validation item the migration
//! service returned, each with the premigration codes its messages carry, the rules that cover it, and
//! whether the plan predicted the same outcome. Plain data, built by `rules::premigration` (pure) and
//! rendered by `render::verdict`; no I/O here.

use super::RuleId;
use serde::{Deserialize, Serialize};

/// The version of the verdict's JSON form. Bump it on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The outcome of one `validate` run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The spec's `name`.
    pub name: String,
    /// The migration the service ran, by name, and its resource id.
    pub migration: String,
    pub resource_id: String,
    /// The migration's final `currentStatus.state`, as the service spelled it.
    pub state: String,
    /// `currentStatus.error`, when the service set one.
    pub error: Option<String>,
    pub outcome: Outcome,
    pub items: Vec<Item>,
}

/// What the run established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service validated the pair (`Succeeded`).
    Validated,
    /// The service found failures (`ValidationFailed`).
    ValidationFailed,
    /// The migration ended `Failed` or `Canceled` without a validation verdict.
    Failed,
}

/// Where an item applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Server,
    Database(String),
}

/// The state of one item or message, as the service reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Succeeded,
    Warning,
    Failed,
    Other(String),
}

/// One validation item of the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub scope: Scope,
    /// The service's `type`, e.g. `ServerParametersValidation`.
    pub kind: String,
    pub state: ItemState,
    pub messages: Vec<Message>,
    /// The migprep rules that cover this item (from its codes, else from its type); empty when none does.
    pub rules: Vec<RuleId>,
    pub prediction: Prediction,
}

/// One message of an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub state: ItemState,
    /// The service's text; outside text, escaped by every rendering.
    pub text: String,
    /// The premigration error code the text carries (`603107`), if any.
    pub code: Option<u32>,
}

/// Whether migprep's plan saw the same thing as the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "agreement")]
pub enum Prediction {
    /// The plan predicted this outcome; `because` names what in the plan says so.
    Agrees { because: String },
    /// The plan predicted otherwise; `because` says what the plan expected.
    Disagrees { because: String },
    /// No migprep rule covers this item, so the plan predicts nothing about it.
    NotCovered,
}

impl Prediction {
    pub fn disagrees(&self) -> bool {
        matches!(self, Prediction::Disagrees { .. })
    }
}

impl Verdict {
    /// Items where the plan and the service disagree.
    pub fn disagreements(&self) -> usize {
        self.items.iter().filter(|item| item.prediction.disagrees()).count()
    }

    /// Items the service reported as failed.
    pub fn failures(&self) -> usize {
        self.items.iter().filter(|item| item.state == ItemState::Failed).count()
    }
}

impl ItemState {
    pub fn as_str(&self) -> &str {
        match self {
            ItemState::Succeeded => "Succeeded",
            ItemState::Warning => "Warning",
            ItemState::Failed => "Failed",
            ItemState::Other(other) => other,
        }
    }
}

impl Scope {
    pub fn label(&self) -> String {
        match self {
            Scope::Server => "server".into(),
            Scope::Database(name) => format!("database {name}"),
        }
    }
}
