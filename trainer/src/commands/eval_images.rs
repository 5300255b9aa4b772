//! `trainer eval-images`: scores any generator's PNGs listed in a manifest with the exact
//! evaluator; where the manifest carries people's labels, also how often the evaluator agrees
//! with them (the evaluator audit).

use crate::grid::{compose, Cell};
use crate::manifest::Entry;
use crate::{manifest, png_io, progress};
use anyhow::{anyhow, bail, Context, Result};
use hypernoise::eval::{evaluate, Report, Verdict};
use hypernoise::world::Image;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of PNGs.
    #[arg(long)]
    dir: PathBuf,
    /// JSONL of {"prompt", "seed", "file"} (file relative to --dir), optionally with "source" and
    /// a person's "label" (true: the image shows what the prompt asks); default DIR/manifest.jsonl,
    /// or the one `SOURCE-manifest.jsonl` that `evaluate --save-dir DIR --source SOURCE` wrote.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Also write the scores (and the agreement with labels) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print this many failures (and disagreements with labels) with the evaluator's reason.
    #[arg(long, default_value_t = 5)]
    show_failures: usize,
    /// Draw the labelled images the evaluator disagrees on here (PNG): framed by the evaluator's
    /// verdict, captioned with the prompt and the label.
    #[arg(long)]
    disagreements: Option<PathBuf>,
    /// Also read files the manifest names outside --dir (absolute paths, `..`); by default a
    /// manifest can only point inside its folder.
    #[arg(long)]
    allow_outside: bool,
}

/// Where a manifest's `file` lies: inside `dir` unless `allow_outside`.
fn image_path(dir: &Path, file: &str, allow_outside: bool) -> Result<PathBuf> {
    let inside = Path::new(file).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside && !allow_outside {
        bail!(
            "\"{file}\" is outside {}: files are named relative to --dir (pass --allow-outside to read it anyway)",
            dir.display()
        );
    }
    Ok(dir.join(file))
}

/// Two images whose every channel differs by at most this much are one image: the same
/// generation saved by runs at different batch sizes differs only by float rounding.
const SAME_IMAGE_TOLERANCE: u8 = 2;

fn same_pixels(a: &Image, b: &Image) -> bool {
    (a.width, a.height) == (b.width, b.height)
        && a.rgb.iter().zip(&b.rgb).all(|(x, y)| x.abs_diff(*y) <= SAME_IMAGE_TOLERANCE)
}

/// The evaluator's verdicts against people's labels: agreement per task type and per source.
#[derive(Default)]
struct Agreement {
    per_category: Report,
    per_source: BTreeMap<String, (usize, usize)>,
    disagreements: Vec<String>,
    cells: Vec<Cell>,
    /// The labelled images so far, by prompt, with their files.
    judged: BTreeMap<String, Vec<(String, Image)>>,
}

impl Agreement {
    /// Refuses a second label of one image for one prompt (under any file name): a judgement
    /// counted twice weighs the audit towards whatever that image shows. The same image under
    /// another prompt is another judgement.
    fn refuse_a_second_judgement(&mut self, e: &Entry, image: &Image) -> Result<()> {
        let seen = self.judged.entry(e.prompt.clone()).or_default();
        if let Some((earlier, _)) = seen.iter().find(|(_, other)| same_pixels(other, image)) {
            bail!(
                "{} is the image {earlier} already labelled for \"{}\" (every pixel within {SAME_IMAGE_TOLERANCE}): \
                 its judgement would count twice; keep one of the two lines",
                e.file,
                e.prompt
            );
        }
        seen.push((e.file.clone(), image.clone()));
        Ok(())
    }

    fn add(&mut self, e: &Entry, label: bool, verdict: &Verdict, image: Image) {
        let agrees = label == verdict.correct;
        self.per_category.add(verdict.category, agrees);
        let s = self.per_source.entry(e.source.clone().unwrap_or_default()).or_default();
        s.0 += agrees as usize;
        s.1 += 1;
        if !agrees {
            let said = if label { "labelled right" } else { "labelled wrong" };
            let seen: Vec<String> = verdict.detections.iter().map(|d| d.to_string()).collect();
            self.disagreements.push(format!(
                "{} (seed {}, {}): {said}; evaluator: {} [saw: {}]",
                e.prompt,
                e.seed,
                e.file,
                verdict.reason,
                seen.join("; ")
            ));
            let people = if label { "yes" } else { "no" };
            self.cells.push(Cell {
                image,
                caption: format!("{}; people: {people}", e.prompt),
                correct: Some(verdict.correct),
            });
        }
    }

    /// Agreement over all labelled images (not a mean over task types).
    fn overall(&self) -> f64 {
        let (ok, n) = self.per_category.counts.values().fold((0, 0), |(a, b), &(c, t)| (a + c, b + t));
        ok as f64 / n.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        let cats: BTreeMap<&str, serde_json::Value> = self
            .per_category
            .counts
            .iter()
            .map(|(c, &(ok, n))| (c.name(), serde_json::json!({"agreement": ok as f64 / n as f64, "images": n})))
            .collect();
        let sources: BTreeMap<&str, serde_json::Value> = self
            .per_source
            .iter()
            .map(|(s, &(ok, n))| (s.as_str(), serde_json::json!({"agreement": ok as f64 / n as f64, "images": n})))
            .collect();
        serde_json::json!({
            "agreement": self.overall(),
            "labelled": self.per_category.images(),
            "per_category": cats,
            "per_source": sources,
            "disagreements": self.disagreements,
        })
    }
}

/// DIR/manifest.jsonl, or else the folder's only `*-manifest.jsonl` (several sources saved in one
/// folder must be named: which one is meant cannot be guessed).
fn default_manifest(dir: &Path) -> Result<PathBuf> {
    let plain = dir.join("manifest.jsonl");
    if plain.exists() {
        return Ok(plain);
    }
    let read = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut named: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("-manifest.jsonl")))
        .collect();
    named.sort();
    match named.as_slice() {
        [one] => Ok(one.clone()),
        [] => Ok(plain), // reading it says that it is missing
        several => bail!(
            "{} holds several manifests ({}): name one with --manifest",
            dir.display(),
            several.iter().filter_map(|p| p.file_name()?.to_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn run(a: Args) -> Result<()> {
    if !a.dir.is_dir() {
        return Err(anyhow!("{} is not a folder", a.dir.display()));
    }
    let manifest_path = match &a.manifest {
        Some(path) => path.clone(),
        None => default_manifest(&a.dir)?,
    };
    let entries = manifest::read(&manifest_path)?;
    let mut report = Report::default();
    let mut agreement = Agreement::default();
    let mut failures = Vec::new();
    let pb = progress::bar(entries.len(), "scoring");
    for (line, e) in &entries {
        let at = || format!("{}:{line}", manifest_path.display());
        let image = png_io::read(&image_path(&a.dir, &e.file, a.allow_outside).with_context(at)?).with_context(at)?;
        let verdict = evaluate(&e.prompt, &image).map_err(|err| anyhow!("{err}")).with_context(at)?;
        report.add(verdict.category, verdict.correct);
        if let Some(label) = e.label {
            agreement.refuse_a_second_judgement(e, &image).with_context(at)?;
            agreement.add(e, label, &verdict, image);
        }
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
    let labelled = agreement.per_category.images();
    if labelled > 0 {
        println!("\nagreement with the labels of {labelled} images: {:.4}", agreement.overall());
        println!("{}", agreement.per_category.markdown("agreement"));
        for d in agreement.disagreements.iter().take(a.show_failures) {
            println!("  disagrees: {d}");
        }
    }
    if let Some(path) = &a.disagreements {
        if agreement.cells.is_empty() {
            println!("no disagreements with labels to draw; {} not written", path.display());
        } else {
            png_io::write(path, &compose(&agreement.cells, 6, 2))?;
        }
    }
    if let Some(path) = &a.json {
        let mut body = serde_json::json!({ "images": report.images(), "scores": report.scores() });
        if labelled > 0 {
            if let (Some(body), serde_json::Value::Object(audit)) = (body.as_object_mut(), agreement.json()) {
                body.extend(audit);
            }
        }
        crate::files::write(path, serde_json::to_string_pretty(&body)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
