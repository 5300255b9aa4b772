//! The JSONL manifest that lists images to score: one `{"prompt", "seed", "file"}` per line,
//! `file` relative to the images' folder; optionally which model made the image (`source`) and a
//! person's judgement of whether it shows what the prompt asks (`label`), against which
//! `trainer eval-images` measures the evaluator.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub prompt: String,
    pub seed: u64,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<bool>,
    /// Why the person labelled it so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The entries with their 1-based line numbers.
pub fn read(path: &Path) -> Result<Vec<(usize, Entry)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(line).with_context(|| {
            format!("{}:{}: not a manifest line ({{\"prompt\": str, \"seed\": int, \"file\": str}}, optionally \"source\": str, \"label\": bool, \"note\": str)", path.display(), i + 1)
        })?;
        out.push((i + 1, entry));
    }
    if out.is_empty() {
        bail!("manifest {} lists no images", path.display());
    }
    Ok(out)
}

pub fn write(path: &Path, entries: &[Entry]) -> Result<()> {
    let mut text = String::new();
    for e in entries {
        text += &serde_json::to_string(e)?;
        text.push('\n');
    }
    crate::files::write(path, text.as_bytes())
}
