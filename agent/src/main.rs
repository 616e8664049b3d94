//! `cairn-agent`: parses flags, sets up logging, and runs the agent library.

use cairn_env_vars::EnvVars;
use std::io::IsTerminal;
use std::process::ExitCode;

use cairn_agent::cli::{Cli, Command, LogFormat};
use cairn_agent::{Agent, OnceReport};
use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: an agent runs for months, and under glibc its RSS grew
/// with every generation (memory freed in one of its threads' arenas stays there, fragmented);
/// under jemalloc it stays flat (BENCHMARKS.md, "Memory over weeks (soak)").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = match Cli::parse().command {
        Command::Run(args) => args,
        Command::Completion { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "cairn-agent", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
    };
    // CAIRN_LOG sets the filter, as for `cairn` (e.g. CAIRN_LOG=cairn_agent=debug).
    let filter =
        EnvFilter::try_from_env(EnvVars::CAIRN_LOG).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cairn-agent: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread is plenty for an agent and keeps its footprint small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cairn-agent: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let agent = match Agent::new(config) {
            Ok(agent) => agent,
            Err(e) => {
                eprintln!("cairn-agent: {e}");
                return ExitCode::from(2);
            }
        };
        if args.once {
            let report = agent.run_once().await;
            summarize(&report);
            return ExitCode::from(u8::try_from(report.outcome.exit_code()).unwrap_or(1));
        }
        match agent.run(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cairn-agent: {e}");
                ExitCode::from(1)
            }
        }
    })
}

/// One line per channel: phase, generation, and why when not converged.
fn summarize(report: &OnceReport) {
    for error in &report.errors {
        eprintln!("cairn-agent: {error}");
    }
    for status in &report.channels {
        let phase = format!("{:?}", status.phase).to_lowercase();
        // The reason of a pass that stopped part way says what it wrote.
        let generation = match (&status.applied, &status.incomplete) {
            (Some(applied), _) => format!("generation {}", applied.generation),
            (None, Some(_)) => "no generation fully applied yet".to_owned(),
            (None, None) => "nothing applied".to_owned(),
        };
        match &status.reason {
            Some(reason) => eprintln!(
                "cairn-agent: channel {}: {phase}, {generation}: {reason}",
                status.channel
            ),
            None => eprintln!(
                "cairn-agent: channel {}: {phase}, {generation}",
                status.channel
            ),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
