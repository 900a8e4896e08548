//! The command line, as clap definitions only. What the commands do lives in [`crate::run`].

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The exit codes, as every command's help lists them.
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success, nothing to change
  1  error (bad input, a usage error, unreachable API, failed step)
  2  success with changes present (plan with --detailed-exitcode only)
  3  blockers present: a prerequisite migprep cannot fix (e.g. source version < 9.5);
     for validate: Azure's premigration validation failed
  130  interrupted (Ctrl-C): the running steps finished and were recorded; run the command again
Several specs: the most severe over all of them (1, then 130, then 3, then 2, then 0)."
    };
}

/// Every environment variable migprep reads (all are read once, by [`crate::settings::Settings`]),
/// for the long help (`--help`; `-h` leaves it out).
macro_rules! environment {
    () => {
        "\
Environment:
  MIGPREP_STATE_DIR               where state folders live (default: .migprep/ beside the spec)
  SOURCE_PGPASSWORD               init: the source admin's password, to list the databases (optional)
  MIGPREP_CA_FILE                 an extra CA bundle (PEM), when the spec sets no ca_file
  MIGPREP_ARM_ENDPOINT            the ARM endpoint, when the spec sets no target.arm_endpoint
  MIGPREP_ARM_AUDIENCE            the ARM token audience (sovereign or private clouds)
  MIGPREP_ALLOW_CUSTOM_ENDPOINTS  1: Azure credentials may go outside Azure's clouds
  MIGPREP_POLL_INTERVAL_MS        the pause between looks at a slow operation (default 5000)
  MIGPREP_REQUEST_TIMEOUT_SECS    how long one request to AWS or Azure may take
  MIGPREP_HEARTBEAT_SECS          no terminal: how often a running step reports (default 30)
  AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
                                  the Azure identity: a service principal with a client secret
  AZURE_CLIENT_CERTIFICATE_PATH   ... or with a client certificate (PEM with its RSA key, or PFX);
  AZURE_CLIENT_CERTIFICATE_PASSWORD
                                  the password of the PFX file or of the PEM's key
  AZURE_FEDERATED_TOKEN_FILE      ... or workload identity; without any of these, a managed identity
                                  (user-assigned when AZURE_CLIENT_ID is set), then the logins of
                                  the az CLI and azd, in AZURE_TENANT_ID's tenant when it is set
  AZURE_TOKEN_CREDENTIALS         which of those to try: dev (az CLI, azd), prod (the others) or one
                                  name: EnvironmentCredential, WorkloadIdentityCredential,
                                  ManagedIdentityCredential, AzureCliCredential,
                                  AzureDeveloperCliCredential
  AZURE_POD_IDENTITY_AUTHORITY_HOST
                                  the instance metadata endpoint for the managed identity, instead
                                  of http://169.254.169.254 (IDENTITY_ENDPOINT and IDENTITY_HEADER
                                  are honoured for App Service and Container Apps)
  AZURE_AUTHORITY_HOST            the Entra ID host, when the spec sets no target.authority_host
  AWS_CA_BUNDLE                   more CA certificates to trust for AWS's endpoints only
  AZURE_STORAGE_KEY               [state] backend = \"azblob\": sign with this account key instead of
                                  an Entra token from the Azure identity
  AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …
                                  the AWS SDK's own settings and credential chain
  NO_COLOR                        never colour the output (https://no-color.org)
  RUST_LOG                        what to log on stderr, overriding -v (e.g. migprep=debug)
  USER, LOGNAME, USERNAME, HOSTNAME
                                  who holds a lock, as a refused run names them"
    };
}

const EXIT_CODES: &str = exit_codes!();
const LONG_HELP: &str = concat!(environment!(), "\n\n", exit_codes!());

/// `0.1.0 (commit 1a2b3c4d5e6f, built 2025-03-01)`: the commit when the binary was built from a git
/// checkout, the date always.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("MIGPREP_BUILD_DETAILS"));

/// Get an Aurora PostgreSQL cluster and an Azure Database for PostgreSQL flexible server ready for an
/// online migration with Azure's migration service.
///
/// migprep reads the live state of both sides (AWS RDS API, Azure Resource Manager, SQL on both
/// databases), compares it with the migration's prerequisites, and shows (plan) or makes (apply) the
/// changes, terraform-style. restore puts back what was changed only for the migration.
#[derive(Debug, Parser)]
#[command(name = "migprep", version = VERSION, about, long_about, after_long_help = LONG_HELP, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More detail on stderr (repeat for more); the RUST_LOG variable works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what must change on both sides; never changes anything.
    ///
    /// The plan goes to stdout; progress and errors to stderr.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Plan {
        /// The migration specs (TOML), or folders of them (every `*.toml` in the folder). Several specs
        /// are planned concurrently and end with one summary table.
        #[arg(default_value = "migprep.toml", num_args = 1..)]
        specs: Vec<PathBuf>,
        /// Save the plan to this file, for `migprep apply FILE` or `migprep show FILE`.
        #[arg(long, value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// How to print the plan.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Exit 2 when the plan has changes (0 means nothing to change), like terraform.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Write the SQL that creates the missing roles on the target (T7), with their memberships and role
        /// settings, to this file, for review; the plan applies nothing. Passwords are never copied: the
        /// file lists the ones to set.
        #[arg(long, value_name = "FILE")]
        roles_sql: Option<PathBuf>,
        /// With several specs: how many are worked on at once.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..))]
        parallel: u16,
    },
    /// Make the changes: from a spec (plans, shows, asks for `yes`) or from a saved plan file (applies
    /// exactly that plan, after checking that nothing it depends on has changed since).
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Apply {
        /// Migration specs or folders of them, or one plan file saved with `plan --out`. Several specs are
        /// planned concurrently, confirmed once, applied concurrently, and end with one summary table.
        #[arg(default_value = "migprep.toml", value_name = "SPEC|PLANFILE", num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Do not ask for confirmation (required for a spec when there is no terminal; a saved plan was
        /// reviewed already and needs none). The plan is printed first all the same.
        #[arg(long)]
        auto_approve: bool,
        /// Break a stale lock left by a run that died, naming the lock's ID.
        #[arg(long, value_name = "ID")]
        force_unlock: Option<String>,
        /// Give up after this long, whatever is still running (a rerun resumes): e.g. `90m`, `4h`, `30s`.
        #[arg(long, value_name = "DURATION", default_value = DEFAULT_DEADLINE, value_parser = parse_duration)]
        deadline: Duration,
        /// How to report: the plan and progress for people, or JSON lines on stdout for CI.
        #[arg(long, value_enum, default_value_t = Report::Human)]
        format: Report,
        /// With several specs: how many are worked on at once.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..))]
        parallel: u16,
    },
    /// Put back what was changed only for the migration (temp-tablespace parameter, high availability, …).
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Restore {
        /// The migration specs (TOML), or folders of them; several are restored concurrently.
        #[arg(default_value = "migprep.toml", num_args = 1..)]
        specs: Vec<PathBuf>,
        /// Save the restore plan to this file instead of applying it.
        #[arg(long, value_name = "PLANFILE")]
        out: Option<PathBuf>,
        /// Do not ask for confirmation (required when there is no terminal). The plan is printed first
        /// all the same.
        #[arg(long)]
        auto_approve: bool,
        /// Break a stale lock left by a run that died, naming the lock's ID.
        #[arg(long, value_name = "ID")]
        force_unlock: Option<String>,
        /// Give up after this long, whatever is still running (a rerun resumes): e.g. `90m`, `4h`, `30s`.
        #[arg(long, value_name = "DURATION", default_value = DEFAULT_DEADLINE, value_parser = parse_duration)]
        deadline: Duration,
        /// How to report: the plan and progress for people, or JSON lines on stdout for CI (not with --out,
        /// which prints the plan for people).
        #[arg(long, value_enum, default_value_t = Report::Human)]
        format: Report,
        /// With several specs: how many are worked on at once.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = clap::value_parser!(u16).range(1..))]
        parallel: u16,
    },
    /// Break the lock of a spec's state folder, left by a run that died; ID must be the lock's id, which
    /// the refusal of the next run quotes.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    ForceUnlock {
        /// The migration spec (TOML).
        spec: PathBuf,
        /// The id of the lock to break.
        id: String,
    },
    /// Run Azure's own premigration validation (a validate-only migration on the target server) and show
    /// every item it reports beside the migprep rule that covers it and what the plan predicted.
    ///
    /// Exit 0 when Azure validated the pair, 3 when the validation failed, 1 on an error. Needs
    /// `source.migration_password` in the spec: the migration service logs in as the migration user.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Validate {
        /// The migration spec (TOML).
        #[arg(default_value = "migprep.toml")]
        spec: PathBuf,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also write the body for `az postgres flexible-server migration create --properties FILE`: an
        /// online migration (ValidateAndMigrate) of the spec's databases, with placeholders instead of the
        /// passwords.
        #[arg(long, value_name = "FILE")]
        migration_properties: Option<PathBuf>,
        /// Give up after this long and cancel the validation: e.g. `30m`, `1h`, `90s`.
        #[arg(long, value_name = "DURATION", default_value = DEFAULT_VALIDATE_DEADLINE, value_parser = parse_duration)]
        deadline: Duration,
    },
    /// Write a spec for a cluster and a server: discovers the writer endpoint, the parameter group, the
    /// server's FQDN and admin login, and (when SOURCE_PGPASSWORD lets it connect) the databases, and
    /// writes every key with a comment. Secrets appear only as `{ env = … }` references. Never overwrites.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Init {
        /// The Aurora DB cluster identifier.
        #[arg(long)]
        cluster: String,
        /// The cluster's AWS region.
        #[arg(long)]
        region: String,
        /// An AWS profile (otherwise the SDK's default credential chain).
        #[arg(long)]
        profile: Option<String>,
        /// The flexible server's name.
        #[arg(long)]
        server: String,
        /// The flexible server's resource group.
        #[arg(long)]
        resource_group: String,
        /// The Azure subscription id.
        #[arg(long)]
        subscription: String,
        /// An extra CA bundle (PEM) to trust, written into the spec as ca_file.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Where to write the spec; an existing file is never overwritten.
        #[arg(long, default_value = "migprep.toml", value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a saved plan.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Show {
        /// A plan file saved with `plan --out`.
        planfile: PathBuf,
        /// How to print the plan.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a completion script for a shell, e.g. `migprep completions bash > /etc/bash_completion.d/migprep`
    /// or `migprep completions zsh > "${fpath[1]}/_migprep"`.
    #[command(after_help = EXIT_CODES, after_long_help = LONG_HELP)]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

/// How long an apply or a restore may take in all: long enough for an HA change, a writer reboot and a
/// resize one after another on a slow day.
pub const DEFAULT_DEADLINE: &str = "4h";

/// How many specs of a fleet are worked on at once: the work is waiting on the clouds, not the CPU, and
/// eight keeps well inside the APIs' rate limits.
pub const DEFAULT_PARALLEL: u16 = 8;

/// How long a validation may take: the service usually needs minutes.
pub const DEFAULT_VALIDATE_DEADLINE: &str = "1h";

/// A duration as a number and a unit: `s`, `m` (the default) or `h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 90m, 4h or 30s"))?;
    let seconds = match unit {
        "s" => 1,
        "" | "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a terminal: grouped by system, terraform-like symbols, colour on a terminal.
    Human,
    /// The versioned machine-readable plan (see format_version).
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// How `apply` and `restore` report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Report {
    /// The plan as `plan` shows it on stdout, then a line per step on stderr (timestamped, with
    /// durations and heartbeats, when stderr is not a terminal).
    Human,
    /// One JSON object per line on stdout: the plan, each step's start, progress and end, the summary.
    Json,
}

#[cfg(test)]
mod help_tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_subcommands_help_lists_the_exit_codes() {
        let mut cli = Cli::command();
        cli.build();
        for sub in cli.get_subcommands_mut().filter(|sub| sub.get_name() != "help") {
            let name = sub.get_name().to_string();
            for help in [sub.render_help().to_string(), sub.render_long_help().to_string()] {
                assert!(help.contains("Exit codes:") && help.contains("130"), "`migprep {name} --help`:\n{help}");
            }
        }
    }

    #[test]
    fn the_long_help_names_every_environment_variable_migprep_reads() {
        let read = std::cell::RefCell::new(Vec::new());
        crate::settings::Settings::from_vars(|name| {
            read.borrow_mut().push(name.to_string());
            None
        });
        let mut cli = Cli::command();
        let help = cli.render_long_help().to_string();
        assert!(!read.borrow().is_empty());
        for name in read.borrow().iter() {
            assert!(help.contains(name.as_str()), "{name} is not in `migprep --help`:\n{help}");
        }
    }
}
