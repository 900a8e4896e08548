//! S10: the migration user can read every selected database (CONNECT, USAGE on the schemas, SELECT on the
//! tables). migprep does not grant these itself — the owner must — so a gap is a blocker whose remedy is
//! the exact `GRANT`s. Pure: it reads what SQL on the writer showed and runs nothing.

use crate::model::source::{Database, DatabaseAccess};
use crate::plan::sql::quote_ident;
use crate::plan::{Action, Address, Change, Check, RuleId};
use crate::rules::Findings;
use crate::spec::Spec;

pub(super) fn check(findings: &mut Findings, spec: &Spec, db: &Database) {
    // S8 already blocks on a missing user; its privileges mean nothing.
    if !db.migration_user_exists {
        return;
    }
    let user = &spec.source.migration_user;
    for database in &db.access {
        let database_address = Address::source_database().named("database", &database.name);
        let address = database_address.child("privileges");
        if !database.exists {
            let mut blocker = Change::new(
                database_address,
                Action::Blocker,
                RuleId::S10,
                format!("database {:?} does not exist on the source", database.name),
            );
            blocker.remedy = Some("fix source.databases in the spec".into());
            findings.changes.push(blocker);
            continue;
        }
        if let Some(problem) = &database.problem {
            let mut blocker = Change::new(
                address,
                Action::Blocker,
                RuleId::S10,
                format!("cannot check the migration user's privileges in {}: {problem}", database.name),
            );
            blocker.remedy = Some("let the connection user connect to every selected database".into());
            findings.changes.push(blocker);
            continue;
        }
        let grants = grants(database, &quote_ident(user));
        if grants.is_empty() {
            findings.checks.push(Check {
                address,
                rule: RuleId::S10,
                summary: format!("{user} can read every table of {}", database.name),
            });
            continue;
        }
        let tables: u32 = database.unreadable.iter().map(|(_, _, n)| n).sum();
        let mut blocker = Change::new(
            address,
            Action::Blocker,
            RuleId::S10,
            format!(
                "the migration user cannot read database {}: {} without SELECT{}",
                database.name,
                crate::text::count(tables, "table", "tables"),
                if database.connect { "" } else { ", and no CONNECT on the database" }
            ),
        );
        blocker.prevents = Some(603110);
        blocker.remedy = Some(format!(
            "connected to database {} as the owner or the master user, run: {}",
            database.name,
            grants.join(" ")
        ));
        findings.changes.push(blocker);
    }
}

/// The statements that let `user` (quoted) read all of `database`; none when it already can.
fn grants(database: &DatabaseAccess, user: &str) -> Vec<String> {
    let mut grants = Vec::new();
    if !database.connect {
        grants.push(format!("GRANT CONNECT ON DATABASE {} TO {user};", quote_ident(&database.name)));
    }
    for (schema, usage, tables) in &database.unreadable {
        if !usage {
            grants.push(format!("GRANT USAGE ON SCHEMA {} TO {user};", quote_ident(schema)));
        }
        if *tables > 0 {
            grants.push(format!("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {user};", quote_ident(schema)));
        }
    }
    grants
}
