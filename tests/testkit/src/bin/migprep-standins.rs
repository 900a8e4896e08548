//! Starts the local stand-ins, writes a migration spec that points at them, and keeps them running
//! until interrupted (Ctrl-C, SIGTERM) or until its standard input closes. `scripts/demo` drives it.
//!
//! Usage: `migprep-standins READY_FILE` — the spec's path is written to READY_FILE once all are up.

use anyhow::{Context, Result};
use migprep_testkit::scenario::Scenario;

#[tokio::main]
async fn main() -> Result<()> {
    let ready_file = std::env::args().nth(1).context("usage: migprep-standins READY_FILE")?;
    let scenario = Scenario::start().await.context("starting the stand-ins")?;
    let spec = scenario.write_spec(&scenario.spec())?;
    eprintln!(
        "stand-ins up: Aurora-like PostgreSQL on 127.0.0.1:{}, flexible-server-like PostgreSQL on 127.0.0.1:{}",
        scenario.source.port(),
        scenario.target.port()
    );
    std::fs::write(&ready_file, spec.to_string_lossy().as_bytes()).context("writing the ready file")?;

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
