use super::ground_truth;
use crate::manifest::{self, Entry};
use crate::{png_io, progress};
use anyhow::{Context, Result};
use hypernoise::world::split::{items, Split};
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// The training prompts (seeds per prompt by the evaluation set's rule): how a model scores
    /// on the prompts it trained on, beside the held-out ones.
    Train,
    Val,
    Eval,
}

impl From<Which> for Split {
    fn from(w: Which) -> Self {
        match w {
            Which::Train => Self::Train,
            Which::Val => Self::Val,
            Which::Eval => Self::Eval,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "eval")]
    split: Which,
    #[arg(long)]
    out_dir: PathBuf,
    #[arg(long, default_value_t = hypernoise::world::DEFAULT_RESOLUTION)]
    resolution: usize,
}

pub fn run(a: Args) -> Result<()> {
    let split: Split = a.split.into();
    std::fs::create_dir_all(&a.out_dir).with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let items = items(split);
    let pb = progress::bar(items.len(), "rendering");
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let file = format!("{i:05}.png");
        png_io::write(&a.out_dir.join(&file), &ground_truth(&item.prompt, item.seed, a.resolution)?)?;
        entries.push(Entry {
            prompt: item.prompt.clone(),
            seed: item.seed,
            file,
            source: None,
            label: None,
            note: None,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    let path = a.out_dir.join("manifest.jsonl");
    manifest::write(&path, &entries)?;
    println!("wrote {} images of the {} set and {}", entries.len(), split.name(), path.display());
    Ok(())
}
