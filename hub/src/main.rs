//! `cairn`: the hub CLI. Parses flags, sets up logging, runs the command, maps errors to exit codes.

use cairn_env_vars::EnvVars;
use clap::Parser;

/// jemalloc rather than glibc's malloc, as for the agent: `cairn ui` and `cairn status --watch`
/// run for days, and under glibc a long-running process's RSS creeps up as freed memory stays
/// fragmented in its threads' arenas (BENCHMARKS.md, "Memory over weeks (soak)").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let cli = cairn_hub::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(EnvVars::CAIRN_LOG)
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in CI logs or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(error) = cairn_hub::run(cli).await {
        eprintln!("cairn: {error}");
        std::process::exit(error.exit_code());
    }
}
