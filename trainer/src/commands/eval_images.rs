use crate::{manifest, png_io, progress};
use anyhow::{anyhow, Context, Result};
use hypernoise::eval::{evaluate, Report};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of PNGs.
    #[arg(long)]
    dir: PathBuf,
    /// JSONL of {"prompt", "seed", "file"} (file relative to --dir); default DIR/manifest.jsonl.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Also write the scores as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print this many failures with the evaluator's reason.
    #[arg(long, default_value_t = 5)]
    show_failures: usize,
}

pub fn run(a: Args) -> Result<()> {
    if !a.dir.is_dir() {
        return Err(anyhow!("{} is not a folder", a.dir.display()));
    }
    let manifest_path = a.manifest.clone().unwrap_or_else(|| a.dir.join("manifest.jsonl"));
    let entries = manifest::read(&manifest_path)?;
    let mut report = Report::default();
    let mut failures = Vec::new();
    let pb = progress::bar(entries.len(), "scoring");
    for (line, e) in &entries {
        let at = || format!("{}:{line}", manifest_path.display());
        let image = png_io::read(&a.dir.join(&e.file)).with_context(at)?;
        let verdict = evaluate(&e.prompt, &image).map_err(|err| anyhow!("{err}")).with_context(at)?;
        report.add(verdict.category, verdict.correct);
        if !verdict.correct {
            failures.push(format!("{} (seed {}, {}): {}", e.prompt, e.seed, e.file, verdict.reason));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!("{}", report.markdown(&a.dir.display().to_string()));
    println!("{} images, mean {:.4}", report.images(), report.mean());
    for f in failures.iter().take(a.show_failures) {
        println!("  wrong: {f}");
    }
    if let Some(path) = &a.json {
        let body = serde_json::json!({ "images": report.images(), "scores": report.scores() });
        std::fs::write(path, serde_json::to_string_pretty(&body)?).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
