//! Command-line interface: argument parsing and terminal output only; the work is in the library.
//!
//! - [`args`]: the commands and their arguments (clap derive);
//! - [`commands`]: one handler per command, calling the library;
//! - [`output`]: progress, the live view and summaries, on stderr/stdout.

mod args;
mod commands;
mod output;

use args::{Cli, Command};
use clap::Parser;
use commands::*;
use std::process::ExitCode;

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run(a) => run_job(a),
        Command::Monitor(a) => monitor(a),
        Command::Scenarios(a) => scenarios(a),
        Command::Record(a) => record(a),
        Command::Quantize(a) => quantize_cmd(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Keygen(a) => keygen(a),
        Command::Keys(c) => pipeline::keys::run(c),
        Command::Publish(a) => publish(a),
        Command::FetchModel(a) => fetch_model(a),
        Command::Promote(a) => promote(a),
        Command::Rollback(a) => rollback(a),
        Command::Log(a) => log_cmd(a),
        Command::SessionMemory { model } => {
            println!("{}", pipeline::compare::measure_session_memory(&model, 200)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
