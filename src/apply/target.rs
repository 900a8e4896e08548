//! Performs target operations: ARM calls and SQL on the flexible server. Each re-observes first, so
//! running it again after a crash does nothing if the change is already in place.

use crate::observe::Clients;
use crate::plan::Change;
use crate::plan::operation::TargetOp;

pub async fn perform(op: &TargetOp, _change: &Change, _clients: &Clients) -> anyhow::Result<Option<String>> {
    match *op {}
}
