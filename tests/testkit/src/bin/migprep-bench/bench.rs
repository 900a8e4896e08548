//! The stand-ins set up for the benchmark: the demo's "before" state, a delay proxy in front of each
//! PostgreSQL server, a spec pointing at them, and `migprep` runs measured with the requests they made.

use crate::RUNS;
use crate::measure::{Cost, Run, median, run_child};
use anyhow::{Context, Result, anyhow, bail};
use migprep_testkit::delay::DelayProxy;
use migprep_testkit::scenario::{CLUSTER, Scenario, ScenarioConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The stand-ins with a delay proxy in front of each PostgreSQL server and a spec pointing at them.
pub(crate) struct Bench {
    pub(crate) scenario: Scenario,
    pub(crate) source_proxy: DelayProxy,
    pub(crate) target_proxy: DelayProxy,
    pub(crate) spec: toml::Table,
    pub(crate) spec_path: PathBuf,
    pub(crate) binary: PathBuf,
    pub(crate) logs: PathBuf,
}

impl Bench {
    /// The demo's "before" state (see `migprep-standins`): Aurora on its default group with a reader;
    /// the flexible server zone-redundant, temp tablespaces on the local SSD, a read replica; disruptive
    /// actions allowed.
    pub(crate) async fn start(binary: &Path, logs: &Path) -> Result<Self> {
        let scenario = Scenario::start_with(ScenarioConfig::demo()).await.context("starting the stand-ins")?;
        let source_proxy = DelayProxy::start(scenario.source.port()).await?;
        let target_proxy = DelayProxy::start(scenario.target.port()).await?;
        // The writer endpoint the RDS API reports is where migprep connects: make that the proxy.
        scenario.rds.set_cluster_endpoint(CLUSTER, Some(source_proxy.port()));
        let mut spec = scenario.spec();
        let allow: toml::Table =
            toml::from_str("reboot_source_writer = true\nrestart_target = true\nremove_replicas = \"promote\"\n")?;
        spec.insert("allow".into(), toml::Value::Table(allow));
        table(&mut spec, "target")?
            .get_mut("connection")
            .and_then(toml::Value::as_table_mut)
            .context("the spec has no target.connection")?
            .insert("port".into(), toml::Value::Integer(target_proxy.port().into()));
        let spec_path = scenario.write_spec(&spec)?;
        Ok(Self {
            scenario,
            source_proxy,
            target_proxy,
            spec,
            spec_path,
            binary: binary.to_path_buf(),
            logs: logs.to_path_buf(),
        })
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.scenario.rds.set_latency(None, latency);
        self.scenario.arm.set_latency(latency);
        self.source_proxy.set_latency(latency);
        self.target_proxy.set_latency(latency);
    }

    pub(crate) fn set_databases(&mut self, databases: &[String]) -> Result<()> {
        let list = databases.iter().cloned().map(toml::Value::String).collect();
        table(&mut self.spec, "source")?.insert("databases".into(), toml::Value::Array(list));
        self.spec_path = self.scenario.write_spec(&self.spec)?;
        Ok(())
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.scenario.rds.requests().len(),
            self.scenario.arm.requests().len(),
            self.source_proxy.connections() + self.target_proxy.connections(),
        )
    }

    /// Runs `f` (which runs children and returns their summed cost) and counts the requests it made.
    pub(crate) async fn measure<F>(&self, f: F) -> Result<Run>
    where
        F: FnOnce() -> Result<(Cost, usize)> + Send + 'static,
    {
        let before = self.counts();
        // Blocking: the children are waited for with `wait4`; the stand-ins keep running on the runtime.
        let (cost, children) = tokio::task::spawn_blocking(f).await??;
        let after = self.counts();
        Ok(Run { cost, rds: after.0 - before.0, arm: after.1 - before.1, pg: after.2 - before.2, children })
    }

    /// One `migprep` run; exit codes outside `ok` fail the benchmark with migprep's stderr.
    pub(crate) async fn migprep(&self, args: &[&str], ok: &'static [i32]) -> Result<Run> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .envs(self.scenario.env())
            .env("NO_COLOR", "1")
            .env_remove("MIGPREP_STATE_DIR")
            .env_remove("MIGPREP_CA_FILE")
            .current_dir(self.scenario.dir());
        let log = self.logs.join("migprep.stderr");
        let what = format!("migprep {}", args.join(" "));
        let run = self
            .measure(move || {
                let cost = run_child(command, &log)?;
                if !ok.contains(&cost.code) {
                    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!("{what} exited with {}:\n{stderr}", cost.code);
                }
                Ok((cost, 1))
            })
            .await?;
        Ok(run)
    }

    pub(crate) async fn plan(&self) -> Result<Run> {
        let spec = self.spec_path.to_string_lossy().into_owned();
        self.migprep(&["plan", &spec, "--detailed-exitcode"], &[0, 2, 3]).await
    }

    /// The median of `RUNS` plan runs.
    pub(crate) async fn plan_median(&self) -> Result<Run> {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(self.plan().await?);
        }
        Ok(median(runs))
    }

    /// The plan as JSON (not measured): what an apply of the same spec will run.
    pub(crate) fn plan_json(&self) -> Result<serde_json::Value> {
        let output = Command::new(&self.binary)
            .args(["plan", &self.spec_path.to_string_lossy(), "--format", "json"])
            .envs(self.scenario.env())
            .env_remove("MIGPREP_STATE_DIR")
            .env_remove("MIGPREP_CA_FILE")
            .current_dir(self.scenario.dir())
            .stderr(Stdio::null())
            .output()?;
        serde_json::from_slice(&output.stdout).context("migprep plan --format json printed no plan")
    }
}

fn table<'a>(spec: &'a mut toml::Table, key: &str) -> Result<&'a mut toml::Table> {
    spec.get_mut(key).and_then(toml::Value::as_table_mut).ok_or_else(|| anyhow!("the spec has no [{key}]"))
}
