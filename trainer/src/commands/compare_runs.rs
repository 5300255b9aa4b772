//! `trainer compare-runs`: the reward and the validation score of several `fit`/`finetune`
//! runs over training, in one picture (e.g. HyperNoise vs fine-tuning on the redness toy).

use super::fit::{read_metrics, Metrics};
use crate::plot::{chart, stack, Series};
use crate::png_io;
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders (each with metrics.json).
    #[arg(long, value_delimiter = ',', required = true)]
    runs: Vec<PathBuf>,
    /// A label per run (default: the folder names).
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let mut reward = Vec::new();
    let mut score = Vec::new();
    for (i, run) in a.runs.iter().enumerate() {
        let metrics = read_metrics(run)?;
        if metrics.is_empty() {
            bail!("{} has no metrics.json: is it a fit or finetune run folder?", run.display());
        }
        let name = a.names.get(i).cloned().unwrap_or_else(|| {
            run.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned())
        });
        let points = |f: fn(&Metrics) -> f64| metrics.iter().map(|m| (m.step as f64, f(m))).collect();
        reward.push(Series { name: name.clone(), points: points(|m| m.val_reward) });
        score.push(Series { name, points: points(|m| m.val_score) });
    }
    let charts = [
        chart("reward on validation prompts", "steps", &reward, false),
        chart("exact evaluator on validation prompts", "steps", &score, false),
    ];
    png_io::write(&a.out, &stack(&charts))?;
    println!("wrote {}", a.out.display());
    Ok(())
}
