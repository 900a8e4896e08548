//! The commands, wired: load the spec, observe (concurrently), run the rules, render, and decide the
//! exit code. This is the only place that knows every layer; each layer knows only its own job.

use crate::cli::{Cli, Command, Format};
use crate::error::UserError;
use crate::observe::postgres::{self, Endpoint, Side};
use crate::plan::{Kind, Plan};
use crate::rules::network::{self, EndpointObservation, Reached, Unreachable};
use crate::spec::{Connection, Spec};
use crate::tls::Trust;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// How a successful run ended; the binary turns it into an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change (exit 0).
    Clean,
    /// Changes present and the user asked to be told (`--detailed-exitcode`, exit 2).
    Changes,
    /// A prerequisite migprep cannot fix (exit 3).
    Blockers,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Changes => 2,
            Outcome::Blockers => 3,
        }
    }
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "migprep=info",
        2 => "migprep=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_allowed(&std::io::stderr()))
        .try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Plan { spec, out, format, detailed_exitcode } => {
            if out.is_some() {
                return Err(not_built("plan --out (saved plans)").into());
            }
            let spec = Spec::load(&spec)?;
            let trust = trust_for(&spec)?;
            let plan = plan(&spec, &trust).await?;
            print(&plan, format)?;
            Ok(outcome(&plan, detailed_exitcode))
        }
        Command::Apply { .. } => Err(not_built("apply").into()),
        Command::Restore { .. } => Err(not_built("restore").into()),
        Command::Show { .. } => Err(not_built("show").into()),
    }
}

fn not_built(what: &str) -> UserError {
    UserError::new(format!("`migprep {what}` is not built yet in this version"))
        .hint("`migprep plan SPEC` shows what the prerequisites need; apply, restore, show and saved plans come next")
}

fn outcome(plan: &Plan, detailed_exitcode: bool) -> Outcome {
    if plan.has_blockers() {
        Outcome::Blockers
    } else if detailed_exitcode && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Clean
    }
}

/// The extra CA bundle: the spec's `ca_file`, else `MIGPREP_CA_FILE`.
fn trust_for(spec: &Spec) -> Result<Trust, UserError> {
    let from_env = std::env::var_os("MIGPREP_CA_FILE").filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    Trust::load(spec.ca_file.as_deref().or(from_env.as_deref()))
}

/// Observes both sides and builds the plan.
pub async fn plan(spec: &Spec, trust: &Trust) -> Result<Plan, UserError> {
    let source = endpoint(Side::Source, &spec.source.connection, spec.source.databases[0].clone())?;
    let target = endpoint(Side::Target, &spec.target.connection, "postgres".to_string())?;
    // Both endpoints are probed at once; every failure is reported, not just the first.
    let (source_probe, target_probe) = tokio::join!(
        postgres::probe(&source, trust, postgres::CONNECT_TIMEOUT),
        postgres::probe(&target, trust, postgres::CONNECT_TIMEOUT),
    );
    let observations = [(source, source_probe), (target, target_probe)].map(|(endpoint, probe)| EndpointObservation {
        side: endpoint.side.name(),
        address: endpoint.address(),
        user: endpoint.user.clone(),
        outcome: match probe {
            Ok(reached) => Ok(Reached { server_version: reached.server_version, tls: reached.tls }),
            Err(error) => Err(Unreachable { problem: error.to_string(), hint: error.hint(endpoint.side) }),
        },
    });

    let mut plan = Plan::new(Kind::Apply, spec.name.clone());
    let (checks, blockers) = network::reachability(&observations);
    plan.checks.extend(checks);
    plan.changes.extend(blockers);
    Ok(plan)
}

fn endpoint(side: Side, connection: &Connection, database: String) -> Result<Endpoint, UserError> {
    let key = format!("{}.connection", side.name());
    let host = connection.host.clone().ok_or_else(|| {
        UserError::new(format!(
            "{key}.host is not set, and this version cannot look the endpoint up in the cloud API yet"
        ))
        .hint(format!("set {key}.host and {key}.port in the spec"))
    })?;
    Ok(Endpoint {
        side,
        host,
        port: connection.port.unwrap_or(5432),
        user: connection.user.clone(),
        database,
        password: connection.password.resolve(&format!("{key}.password"))?,
        sslmode: connection.sslmode,
    })
}

fn print(plan: &Plan, format: Format) -> Result<(), UserError> {
    let stdout = std::io::stdout();
    let colour = colour_allowed(&stdout);
    let mut out = stdout.lock();
    let written = match format {
        Format::Human => crate::render::human::render(plan, &mut out, crate::render::human::Style { colour }),
        Format::Json => crate::render::json::render(plan, &mut out),
        Format::Markdown => crate::render::markdown::render(plan, &mut out),
    };
    written.and_then(|()| out.flush()).map_err(|e| UserError::new(format!("cannot write the plan to stdout: {e}")))
}

/// Colour only on a terminal, and never with `NO_COLOR` set (https://no-color.org).
fn colour_allowed(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The state folder for a spec: `MIGPREP_STATE_DIR`, else `.migprep/` beside the spec.
pub fn state_root(spec_file: &Path) -> std::path::PathBuf {
    match std::env::var_os("MIGPREP_STATE_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => dir.into(),
        None => spec_file.parent().unwrap_or(Path::new(".")).join(".migprep"),
    }
}
