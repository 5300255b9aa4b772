use super::ground_truth;
use crate::png_io;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// e.g. "a blue circle to the left of a yellow square"
    #[arg(long)]
    prompt: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = hypernoise::world::DEFAULT_RESOLUTION, value_parser = clap::value_parser!(usize))]
    resolution: usize,
}

pub fn run(a: Args) -> Result<()> {
    png_io::write(&a.out, &ground_truth(&a.prompt, a.seed, a.resolution)?)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
