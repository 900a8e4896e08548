//! Starts the local stand-ins, writes a migration spec that points at them, and keeps them running
//! until interrupted (Ctrl-C, SIGTERM) or until its standard input closes. `scripts/demo` drives it.
//!
//! Usage: `migprep-standins READY_FILE` — once all are up, READY_FILE holds the spec's path on its first
//! line and then the environment migprep needs to reach the clouds' stand-ins, one `NAME=value` a line.

use anyhow::{Context, Result};
use migprep_testkit::scenario::Scenario;

#[tokio::main]
async fn main() -> Result<()> {
    let ready_file = std::env::args().nth(1).context("usage: migprep-standins READY_FILE")?;
    let scenario = Scenario::start().await.context("starting the stand-ins")?;
    let spec = scenario.write_spec(&scenario.spec())?;
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
    // Dropping the scenario stops the servers and removes their folders.
    drop(scenario);
    eprintln!("stand-ins stopped");
    Ok(())
}
