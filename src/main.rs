//! The `migprep` binary: parse the command line, set up logging, run, and turn the outcome into an exit code.

use clap::Parser;
use migprep::cli::Cli;
use migprep::settings::Settings;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // `--help` and `--version` end here too, successfully. Every usage error exits 1: clap's own 2
            // would read as "changes present" to a pipeline using --detailed-exitcode.
            return ExitCode::from(if error.use_stderr() { 1 } else { 0 });
        }
    };
    // The platform's roots and the crypto library's random generator take a few milliseconds of CPU
    // each the first time; started now, they are ready by the time the first connection needs them.
    migprep::tls::warm_up();
    let settings = Settings::from_env();
    migprep::run::init_logging(cli.verbose, &settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(migprep::run::run(cli, &settings)) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(error) => {
            eprintln!("{}", migprep::error::report(&error));
            ExitCode::from(1)
        }
    }
}
