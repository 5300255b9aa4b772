//! `trainer`: the HyperNoise command line.

mod commands;
mod grid;
mod manifest;
mod png_io;
mod progress;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "trainer", version, about = "HyperNoise: scene world, generators, noise hypernetworks and their evaluation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a labelled grid of world scenes (ground truth) to a PNG.
    World(commands::world::Args),
    /// Render the ground-truth scene of one prompt and seed to a PNG.
    Render(commands::render::Args),
    /// Render a whole split (e.g. the evaluation set) as PNGs plus manifest.jsonl.
    RenderSet(commands::render_set::Args),
    /// Score a folder of PNGs listed in a JSONL manifest with the exact evaluator.
    EvalImages(commands::eval_images::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::World(a) => commands::world::run(a),
        Command::Render(a) => commands::render::run(a),
        Command::RenderSet(a) => commands::render_set::run(a),
        Command::EvalImages(a) => commands::eval_images::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
