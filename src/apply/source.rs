//! Performs source operations: RDS API calls and SQL on the Aurora writer. Each re-observes first, so
//! running it again after a crash does nothing if the change is already in place.

use crate::observe::Clients;
use crate::plan::Change;
use crate::plan::operation::SourceOp;

pub async fn perform(op: &SourceOp, _change: &Change, _clients: &Clients) -> anyhow::Result<Option<String>> {
    match *op {}
}
