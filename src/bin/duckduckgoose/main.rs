//! `duckduckgoose`: run a node of a DuckDuckGoose cluster, or ask a running
//! one about its cluster and change it.
//!
//! ```text
//! cargo install duckduckgoose --features cli
//! duckduckgoose run --id 1 --listen 127.0.0.1:7001 --http 127.0.0.1:8001 \
//!     --peer 2=127.0.0.1:7002 --peer 3=127.0.0.1:7003 --data-dir /var/lib/ddg
//! duckduckgoose status --node 127.0.0.1:8001
//! ```
//!
//! Exit codes, for every subcommand: 0 on success; 2 for bad arguments
//! (including a node with no cluster to start: see `run --bootstrap`); 1 for
//! anything else, with a one-line reason on stderr.

mod client;
mod commands;
mod common;
mod join;
mod plan;
mod run;
mod saved;
mod secret;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Leader election as a process: one node of a cluster is the Goose, the
/// others are Ducks.
#[derive(Debug, Parser)]
#[command(name = "duckduckgoose", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one node: its cluster port, its HTTP API and its data directory.
    Run(run::RunArgs),
    /// Show the cluster as one node sees it: every member, its role, its
    /// address and when it was last heard from.
    Status(commands::StatusArgs),
    /// Ask the Goose to hand over to a Duck (admin).
    StepDown(commands::AdminArgs),
    /// List, add or remove members (adding and removing are admin).
    #[command(subcommand)]
    Members(commands::MembersCommand),
    /// Exit 0 if the node answers `GET /health` with 200, 1 otherwise: a
    /// container health check that needs no shell or curl.
    Health(commands::NodeArgs),
}

/// Why the process ends with a non-zero status.
pub enum Failure {
    /// Bad arguments, or nothing to start: exit status 2.
    Usage(String),
    /// Anything else: exit status 1.
    Fatal(String),
}

impl Failure {
    /// Prints the one-line reason and gives the exit status.
    fn report(self) -> ExitCode {
        match self {
            Failure::Usage(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            Failure::Fatal(message) => {
                eprintln!("fatal: {message}");
                ExitCode::from(1)
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread is plenty for one node or one request, and keeps five
    // nodes on a laptop (or a two-core CI box) from crowding each other.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return Failure::Fatal(format!("cannot start tokio: {error}")).report(),
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                common::init_tracing("info");
                run::run(args).await
            }
            Command::Status(args) => commands::status(args).await,
            Command::StepDown(args) => commands::step_down(args).await,
            Command::Members(command) => commands::members(command).await,
            Command::Health(args) => commands::health(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
