//! The order a plan's changes may run in: which changes run at all (pending changes, blockers and what
//! waits for them do not), what each waits for, which share one operation (one step), and, while a run
//! goes on, which step may start next. Pure bookkeeping over the plan: no I/O, no clock.

use super::executor::{ExecuteError, Held};
use crate::plan::{Action, Address, Change, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// What the plan's dependencies allow: for each change that runs, its depth (0: it depends on nothing
/// that runs) and the changes that run and that it depends on; and the held changes.
#[derive(Debug)]
pub(super) struct Order {
    /// By plan index; `None` for a change that does not run (pending, blocker, or held).
    pub(super) depth: Vec<Option<usize>>,
    /// By plan index: the indices of the running changes it waits for.
    pub(super) dependencies: Vec<Vec<usize>>,
    /// By plan index: the first running change with the same shared operation (itself if none came
    /// before). Changes that share an operation are one step.
    pub(super) leader: Vec<usize>,
    pub(super) held: Vec<Held>,
}

/// Whether a change runs at all: pending changes and blockers never do.
fn runs(change: &Change) -> bool {
    change.pending.is_none() && change.action != Action::Blocker
}

impl Order {
    pub(super) fn of(plan: &Plan) -> Result<Self, ExecuteError> {
        let mut by_address: BTreeMap<&Address, usize> = BTreeMap::new();
        for (index, change) in plan.changes.iter().enumerate() {
            if by_address.insert(&change.address, index).is_some() && runs(change) {
                return Err(ExecuteError::Duplicate(change.address.clone()));
            }
        }
        // Depth of each runnable change (0: depends on nothing runnable), or the address that holds it.
        let mut placed: Vec<Option<Placement>> = vec![None; plan.changes.len()];
        for index in 0..plan.changes.len() {
            if runs(&plan.changes[index]) {
                place(plan, &by_address, index, &mut placed, &mut Vec::new())?;
            }
        }
        let mut depth = vec![None; plan.changes.len()];
        let mut dependencies = vec![Vec::new(); plan.changes.len()];
        let mut held = Vec::new();
        for (index, placement) in placed.into_iter().enumerate() {
            match placement {
                Some(Placement::Depth(placed_at)) => {
                    depth[index] = Some(placed_at);
                    // Placed at a depth, so every dependency in the plan runs (else it would be held).
                    dependencies[index] =
                        plan.changes[index].depends_on.iter().filter_map(|d| by_address.get(d).copied()).collect();
                }
                Some(Placement::Held(waits_for)) => {
                    held.push(Held { address: plan.changes[index].address.clone(), waits_for })
                }
                None => {}
            }
        }
        let mut leader: Vec<usize> = (0..plan.changes.len()).collect();
        for index in 0..plan.changes.len() {
            let shared = plan.changes[index].operation.as_ref().filter(|op| op.is_shared());
            let Some(operation) = shared.filter(|_| depth[index].is_some()) else {
                continue;
            };
            let first = (0..index).find(|&earlier| {
                depth[earlier].is_some() && plan.changes[earlier].operation.as_ref() == Some(operation)
            });
            leader[index] = first.unwrap_or(index);
        }
        Ok(Self { depth, dependencies, leader, held })
    }

    /// The changes that run, in plan order.
    pub(super) fn runnable(&self) -> impl Iterator<Item = usize> + '_ {
        self.depth.iter().enumerate().filter_map(|(index, depth)| depth.map(|_| index))
    }
}

/// Which step may start next: a step (one change, or the changes sharing one operation, named by the
/// first of them) is ready once every change it depends on finished, in this run or an earlier attempt at
/// the plan. Ready steps start shallowest first, then in plan order, so a run with one step at a time goes
/// the same way every time.
pub(super) struct Schedule {
    /// By step: the changes it still has to make, in plan order.
    members: BTreeMap<usize, Vec<usize>>,
    /// Steps still waiting, with how many of the steps they depend on have not finished.
    waiting: BTreeMap<usize, usize>,
    /// By step: the steps that wait for it.
    dependents: BTreeMap<usize, BTreeSet<usize>>,
    /// Ready to start, by (depth, step).
    ready: BTreeSet<(usize, usize)>,
    depth: BTreeMap<usize, usize>,
    /// Finished by an earlier attempt at this plan: not run again, and already satisfied.
    pub(super) skipped: BTreeSet<usize>,
}

impl Schedule {
    pub(super) fn new(order: &Order, done_before: impl Fn(usize) -> bool) -> Self {
        let skipped: BTreeSet<usize> = order.runnable().filter(|&index| done_before(index)).collect();
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut depth: BTreeMap<usize, usize> = BTreeMap::new();
        for index in order.runnable().filter(|index| !skipped.contains(index)) {
            let leader = order.leader[index];
            members.entry(leader).or_default().push(index);
            let at = order.depth[index].unwrap_or(0);
            depth.entry(leader).and_modify(|d| *d = (*d).min(at)).or_insert(at);
        }
        let mut schedule = Self {
            members,
            waiting: BTreeMap::new(),
            dependents: BTreeMap::new(),
            ready: BTreeSet::new(),
            depth,
            skipped,
        };
        for (&leader, members) in &schedule.members {
            let open: BTreeSet<usize> = members
                .iter()
                .flat_map(|&index| &order.dependencies[index])
                .filter(|d| !schedule.skipped.contains(d))
                .map(|&d| order.leader[d])
                .filter(|&step| step != leader)
                .collect();
            for &step in &open {
                schedule.dependents.entry(step).or_default().insert(leader);
            }
            if open.is_empty() {
                schedule.ready.insert((schedule.depth[&leader], leader));
            } else {
                schedule.waiting.insert(leader, open.len());
            }
        }
        schedule
    }

    /// The next step to start, if one is ready: its name and its changes.
    pub(super) fn next(&mut self) -> Option<(usize, Vec<usize>)> {
        self.ready.pop_first().map(|(_, leader)| (leader, self.members[&leader].clone()))
    }

    /// The step `leader` finished: the steps that waited only for it are ready.
    pub(super) fn finished(&mut self, leader: usize) {
        for &dependent in self.dependents.get(&leader).into_iter().flatten() {
            let Some(open) = self.waiting.get_mut(&dependent) else { continue };
            *open -= 1;
            if *open == 0 {
                self.waiting.remove(&dependent);
                self.ready.insert((self.depth[&dependent], dependent));
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Placement {
    Depth(usize),
    /// Waits for this address, which does not run (directly or through its own dependencies).
    Held(Address),
}

/// Places one runnable change after its dependencies (depth-first; `path` detects cycles).
fn place(
    plan: &Plan,
    by_address: &BTreeMap<&Address, usize>,
    index: usize,
    placed: &mut Vec<Option<Placement>>,
    path: &mut Vec<usize>,
) -> Result<Placement, ExecuteError> {
    if let Some(placement) = &placed[index] {
        return Ok(placement.clone());
    }
    if let Some(start) = path.iter().position(|&on_path| on_path == index) {
        let mut cycle: Vec<Address> = path[start..].iter().map(|&i| plan.changes[i].address.clone()).collect();
        cycle.push(plan.changes[index].address.clone());
        return Err(ExecuteError::Cycle(cycle));
    }
    path.push(index);
    let mut placement = Placement::Depth(0);
    for dependency in &plan.changes[index].depends_on {
        // A dependency outside the plan is already satisfied: the rules found nothing to do there.
        let Some(&dependency_index) = by_address.get(dependency) else {
            continue;
        };
        if !runs(&plan.changes[dependency_index]) {
            placement = Placement::Held(dependency.clone());
            break;
        }
        match place(plan, by_address, dependency_index, placed, path)? {
            Placement::Held(_) => {
                placement = Placement::Held(dependency.clone());
                break;
            }
            Placement::Depth(depth) => {
                if let Placement::Depth(current) = placement {
                    placement = Placement::Depth(current.max(depth + 1));
                }
            }
        }
    }
    path.pop();
    placed[index] = Some(placement.clone());
    Ok(placement)
}
