//! `trainer`: the HyperNoise command line.

mod backend;
mod commands;
mod draw;
mod files;
mod grid;
mod manifest;
mod models;
mod plot;
mod png_io;
mod progress;
mod rewards;
mod train;

use backend::{dispatch, DeviceKind};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "HyperNoise: scene world, generators, noise hypernetworks and their evaluation"
)]
struct Cli {
    /// Where models run: `cpu`, or an NVIDIA GPU through `torch` (LibTorch) or `cuda` (burn-cuda)
    /// when the trainer is built for it (scripts/gpu/build-trainer.sh; the default then), or any
    /// GPU through `wgpu` (burn-wgpu; Vulkan on Linux; `build-trainer.sh wgpu`).
    #[arg(long, global = true, value_enum)]
    device: Option<DeviceKind>,
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
    /// Train the flow-matching teacher (resumable).
    Teach(commands::teach::Args),
    /// Distil the one-step student from a teacher (resumable).
    Distill(commands::distill::Args),
    /// Train the learned prompt-faithfulness reward on preference pairs (resumable).
    Reward(commands::reward::Args),
    /// Train the noise hypernetwork on a reward: z -> z + f(z, prompt) (resumable).
    Fit(commands::fit::Args),
    /// Baseline: LoRA fine-tuning of the generator itself on the same reward, or with --imitate
    /// HyperNoise distilled into it (resumable).
    Finetune(commands::fit::Args),
    /// Plot the reward and validation score of several fit/finetune runs together.
    CompareRuns(commands::compare_runs::Args),
    /// Generate one image from a prompt and seed (the shipped student by default).
    Sample(commands::sample::Args),
    /// ReNO: optimise one image's noise against a reward (test-time baseline).
    Reno(commands::reno::RenoArgs),
    /// Best-of-N: the best of N seeds by a reward (test-time baseline).
    BestOfN(commands::best_of_n::BestOfNArgs),
    /// Score a generator on the evaluation prompts with the exact evaluator.
    Evaluate(commands::evaluate::Args),
    /// The paper's table: base, +HyperNoise, +best-of-N, +ReNO, +fine-tune on the evaluation prompts.
    Eval(commands::eval::Args),
    /// What a token-conditioned generator's prompt encoder knows at each shape word (linear probes).
    ReadPrompts(commands::read_prompts::Args),
    /// Time a generator: latency at batch 1, throughput at larger batches.
    Bench(commands::bench::Args),
    /// Compare this device's passes of the shipped models with the CPU's, part by part.
    CheckDevice(commands::check_device::Args),
    /// Write the browser's (8-bit) copies of the generator, hypernetwork and reward.
    ExportWeb(commands::export_web::Args),
    /// Refit a generator so that its copy at a few bits per weight (the browser's) draws what it
    /// draws: quantisation-aware training against its own images.
    Quantise(commands::quantise::Args),
    /// Write an f16 copy of a weights file (half the size; e.g. a reward ensemble's members).
    Half(commands::half::Args),
    /// Write a fixed batch's inputs and the shipped models' outputs (on the CPU), to check another implementation against.
    ExportReference(commands::export_reference::Args),
}

fn main() {
    let cli = Cli::parse();
    let device = cli.device.unwrap_or_else(DeviceKind::preferred);
    let result = match cli.command {
        Command::World(a) => commands::world::run(a),
        Command::Render(a) => commands::render::run(a),
        Command::RenderSet(a) => commands::render_set::run(a),
        Command::EvalImages(a) => commands::eval_images::run(a),
        Command::Teach(a) => dispatch(device, a),
        Command::Distill(a) => dispatch(device, a),
        Command::Reward(a) => dispatch(device, a),
        Command::Fit(args) => {
            dispatch(device, commands::fit::Job { args, role: hypernoise::hypernet::Role::NoiseHypernetwork })
        }
        Command::Finetune(args) => {
            dispatch(device, commands::fit::Job { args, role: hypernoise::hypernet::Role::FineTune })
        }
        Command::CompareRuns(a) => commands::compare_runs::run(a),
        Command::Sample(a) => dispatch(device, a),
        Command::Reno(a) => dispatch(device, a),
        Command::BestOfN(a) => dispatch(device, a),
        Command::Evaluate(a) => dispatch(device, a),
        Command::ReadPrompts(a) => dispatch(device, a),
        Command::Bench(a) => dispatch(device, a),
        Command::CheckDevice(a) => dispatch(device, a),
        Command::Eval(a) => dispatch(device, a),
        Command::ExportWeb(a) => commands::export_web::run(a),
        Command::Quantise(a) => dispatch(device, a),
        Command::Half(a) => commands::half::run(a),
        Command::ExportReference(a) => commands::export_reference::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
