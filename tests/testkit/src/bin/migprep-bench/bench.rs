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
    /// The same spec with the source's host and port given (the source's delay proxy), so the writer's
    /// address does not wait for the RDS API: the second set-up of the plan's bound.
    pub(crate) host_spec_path: PathBuf,
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
        let mut host_spec = spec.clone();
        let source = table(&mut host_spec, "source")?
            .get_mut("connection")
            .and_then(toml::Value::as_table_mut)
            .context("the spec has no source.connection")?;
        source.insert("host".into(), "127.0.0.1".into());
        source.insert("port".into(), toml::Value::Integer(source_proxy.port().into()));
        let host_spec_path = scenario.dir().join("migprep-host.toml");
        std::fs::write(&host_spec_path, toml::to_string(&host_spec)?)?;
        Ok(Self {
            scenario,
            source_proxy,
            target_proxy,
            spec,
            spec_path,
            host_spec_path,
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
        let (server_before, harness_before) = (self.source_server_cpu(), harness_cpu());
        // Blocking: the children are waited for with `wait4`; the stand-ins keep running on the runtime.
        let (cost, children) = tokio::task::spawn_blocking(f).await??;
        // The backends end when the child does; give the postmaster a moment to reap them (their CPU
        // counts towards it only once reaped).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = self.counts();
        Ok(Run {
            cost,
            rds: after.0 - before.0,
            arm: after.1 - before.1,
            pg: after.2 - before.2,
            children,
            source_server_cpu: self.source_server_cpu().saturating_sub(server_before),
            harness_cpu: harness_cpu().saturating_sub(harness_before),
        })
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

    /// A plan of the spec that gives the source's host and port (see `host_spec_path`).
    pub(crate) async fn plan_given_host(&self) -> Result<Run> {
        let spec = self.host_spec_path.to_string_lossy().into_owned();
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

impl Bench {
    /// CPU time of the source's PostgreSQL server so far: the postmaster's own and that of the backends
    /// it has reaped (user + system, from `/proc/PID/stat`). Zero when it cannot be read.
    fn source_server_cpu(&self) -> Duration {
        let pid = std::fs::read_to_string(self.scenario.source.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_string))
            .unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        // Fields after the command (which may hold spaces): utime is the 14th field of the line.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let ticks: u64 = fields.get(11..15).map_or(0, |f| f.iter().sum());
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }
}

/// CPU time of this process so far: the delay proxies, the ARM stand-in and the RDS stand-in's own layer.
fn harness_cpu() -> Duration {
    // SAFETY: `rusage` is plain data that getrusage fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn table<'a>(spec: &'a mut toml::Table, key: &str) -> Result<&'a mut toml::Table> {
    spec.get_mut(key).and_then(toml::Value::as_table_mut).ok_or_else(|| anyhow!("the spec has no [{key}]"))
}
