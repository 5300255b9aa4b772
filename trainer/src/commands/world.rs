use super::ground_truth;
use crate::grid::{compose, Cell};
use crate::png_io;
use anyhow::{bail, Result};
use hypernoise::eval::evaluate;
use hypernoise::rng::Rng;
use hypernoise::world::split::{prompts, Split};
use hypernoise::world::Category;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    All,
    Train,
    Val,
    Eval,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "world-grid.png")]
    out: PathBuf,
    /// Scenes per task type (one row per type).
    #[arg(long, default_value_t = 6)]
    cols: usize,
    /// Which compositions to draw prompts from.
    #[arg(long, value_enum, default_value = "all")]
    split: Which,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = hypernoise::world::DEFAULT_RESOLUTION)]
    resolution: usize,
    /// Upscaling of each scene in the grid.
    #[arg(long, default_value_t = 2)]
    scale: usize,
}

pub fn run(a: Args) -> Result<()> {
    if a.resolution < 16 || a.cols == 0 || a.scale == 0 {
        bail!("--resolution must be at least 16 and --cols, --scale at least 1");
    }
    let splits: &[Split] = match a.split {
        Which::All => &[Split::Train, Split::Val, Split::Eval],
        Which::Train => &[Split::Train],
        Which::Val => &[Split::Val],
        Which::Eval => &[Split::Eval],
    };
    let mut rng = Rng::derive(a.seed, "world-grid");
    let mut cells = Vec::new();
    for cat in Category::ALL {
        let pool: Vec<_> = splits.iter().flat_map(|&s| prompts(s, cat)).collect();
        for _ in 0..a.cols {
            let Some(spec) = (!pool.is_empty()).then(|| *rng.pick(&pool)) else { continue };
            let (prompt, seed) = (spec.text(), rng.next_u64() % 1000);
            let image = ground_truth(&prompt, seed, a.resolution)?;
            let correct = evaluate(&prompt, &image)?.correct;
            cells.push(Cell { image, caption: prompt, correct: Some(correct) });
        }
    }
    png_io::write(&a.out, &compose(&cells, a.cols, a.scale))?;
    println!("wrote {} ({} scenes; frames show the exact evaluator's verdict)", a.out.display(), cells.len());
    Ok(())
}
