//! `trainer half`: an f16 copy of any weights file (half the size; loading widens it to f32),
//! e.g. a reward ensemble's members.

use crate::models::read;
use anyhow::{anyhow, Result};
use hypernoise::weights::to_f16;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    weights: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let bytes = to_f16(&read(&a.weights)?).map_err(|e| anyhow!("{}: {e}", a.weights.display()))?;
    crate::files::write(&a.out, &bytes)?;
    println!("wrote {} ({:.2} MB)", a.out.display(), bytes.len() as f64 / 1e6);
    Ok(())
}
