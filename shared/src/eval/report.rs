//! Per-category accuracy and GenEval's overall score (the mean over task types).

use crate::world::Category;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// (correct, total) per category.
    pub counts: BTreeMap<Category, (usize, usize)>,
}

impl Report {
    pub fn add(&mut self, category: Category, correct: bool) {
        let e = self.counts.entry(category).or_default();
        e.0 += correct as usize;
        e.1 += 1;
    }

    pub fn accuracy(&self, category: Category) -> Option<f64> {
        self.counts.get(&category).map(|&(c, t)| c as f64 / t as f64)
    }

    /// Mean of the per-category accuracies (categories with no images are left out).
    pub fn mean(&self) -> f64 {
        let accs: Vec<f64> = Category::ALL.iter().filter_map(|&c| self.accuracy(c)).collect();
        accs.iter().sum::<f64>() / accs.len().max(1) as f64
    }

    pub fn images(&self) -> usize {
        self.counts.values().map(|v| v.1).sum()
    }

    /// `{"mean": .., "single_object": .., ...}` for results files.
    pub fn scores(&self) -> BTreeMap<String, f64> {
        let mut m: BTreeMap<String, f64> =
            Category::ALL.iter().filter_map(|&c| Some((c.name().to_string(), self.accuracy(c)?))).collect();
        m.insert("mean".into(), self.mean());
        m
    }

    /// A one-row markdown table: mean then the six categories, with image counts.
    pub fn markdown(&self, row_name: &str) -> String {
        let cell = |c: Category| match self.counts.get(&c) {
            Some(&(ok, n)) => format!("{:.3} ({ok}/{n})", ok as f64 / n as f64),
            None => "-".into(),
        };
        let header: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
        format!(
            "| | mean | {} |\n|---|---|{}\n| {row_name} | {:.3} | {} |\n",
            header.join(" | "),
            "---|".repeat(header.len()),
            self.mean(),
            Category::ALL.iter().map(|&c| cell(c)).collect::<Vec<_>>().join(" | ")
        )
    }
}
