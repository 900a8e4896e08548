//! Starts the local stand-ins in the demo's "before" state — Aurora on its default parameter group with
//! a reader, the flexible server zone-redundant with temp tablespaces on the local SSD and a read
//! replica — writes a migration spec that points at them and allows the disruptive actions, and keeps
//! them running
//! until interrupted (Ctrl-C, SIGTERM) or until its standard input closes. `scripts/demo` drives it.
//!
//! Usage: `migprep-standins READY_FILE` — once all are up, READY_FILE holds the spec's path on its first
//! line and then the environment migprep needs to reach the clouds' stand-ins, one `NAME=value` a line.

use anyhow::{Context, Result};
use migprep_testkit::scenario::{Scenario, ScenarioConfig};

#[tokio::main]
async fn main() -> Result<()> {
    let ready_file = std::env::args().nth(1).context("usage: migprep-standins READY_FILE")?;
    let scenario = Scenario::start_with(ScenarioConfig::demo()).await.context("starting the stand-ins")?;
    let mut spec = scenario.spec();
    let allow: toml::Table = toml::from_str(
        r#"
reboot_source_writer = true
restart_target = true
remove_replicas = "promote"
"#,
    )?;
    spec.insert("allow".into(), toml::Value::Table(allow));
    let spec = scenario.write_spec(&spec)?;
    eprintln!("stand-ins up:");
    eprintln!("  Aurora writer (PostgreSQL)   127.0.0.1:{}", scenario.source.port());
    eprintln!("  flexible server (PostgreSQL) 127.0.0.1:{}", scenario.target.port());
    eprintln!("  RDS API (moto + fidelity)    {}", scenario.rds.endpoint());
    eprintln!("  Azure Resource Manager       {}", scenario.arm.endpoint());
    let mut ready = format!("{}\n", spec.display());
    for (name, value) in scenario.env() {
        ready.push_str(&format!("{name}={value}\n"));
    }
    // Written whole and renamed, so the demo never reads half a file.
    let partial = format!("{ready_file}.partial");
    std::fs::write(&partial, ready).context("writing the ready file")?;
    std::fs::rename(&partial, &ready_file).context("writing the ready file")?;

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stdin_closed = async {
        use tokio::io::AsyncReadExt;
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = stdin_closed => {}
    }
    // Stop the servers first: a reboot or restart hook still in flight holds them too, and the process
    // leaves without waiting for it. Dropping the scenario then removes the folders.
    scenario.source.stop();
    scenario.target.stop();
    drop(scenario);
    eprintln!("stand-ins stopped");
    // Tokio reads stdin on a blocking thread that a runtime shutdown would wait for forever (the demo's
    // stdin never closes); everything is cleaned up by now, so leave at once.
    std::process::exit(0)
}
