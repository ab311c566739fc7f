//! `mqctl`: the mq command line. Glue only: parse the command line, find the server and token
//! (flags, environment, config file), build an `mq-client`, run the command, and turn the
//! outcome into an exit code (`exit.rs` holds the map).

mod cli;
mod cmd;
mod config;
mod exit;
mod output;
mod parse;
mod progress;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::Cli;
use crate::output::Output;

fn main() -> ExitCode {
    // Usage errors exit with 2 here, --help and --version with 0.
    let cli = Cli::parse();
    let out = Output::new(cli.global.json);
    let given = config::Given {
        server: cli.global.server.clone(),
        token: cli.global.token.clone(),
        ca_cert: cli.global.ca_cert.clone(),
        config: cli.global.config.clone(),
        timeout: cli.global.timeout,
    };
    let mut server = config::DEFAULT_SERVER.to_owned();
    let result = config::load(given).and_then(|settings| {
        server = settings.server.clone();
        let client = config::client(&settings)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(cmd::run(cli.command, &cmd::Ctx { client, out }))
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        // `mqctl … | head`: the reader has what it wanted.
        Err(error) if is_broken_pipe(&error) => ExitCode::from(exit::OK),
        Err(error) => {
            let report = exit::report(&error, &server);
            let color = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            match report.strip_prefix("error:") {
                Some(rest) if color => eprintln!("\x1b[31merror:\x1b[0m{rest}"),
                _ => eprintln!("{report}"),
            }
            ExitCode::from(exit::code(&error))
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
