//! The training curve as CSV (every logged step) and PNG, rewritten with each checkpoint.

use super::run_loop::Row;
use crate::plot::{chart, Series};
use crate::png_io;
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

pub fn write(run_dir: &Path, what: &str, history: &[Row]) -> Result<()> {
    let mut csv = String::from("step,loss,lr,seconds\n");
    for r in history {
        writeln!(csv, "{},{},{},{:.2}", r.step, r.loss, r.lr, r.seconds)?;
    }
    crate::files::write(&run_dir.join("loss.csv"), csv.as_bytes())?;
    let series = [Series { name: "loss".into(), points: history.iter().map(|r| (r.step as f64, r.loss)).collect() }];
    png_io::write(&run_dir.join("loss.png"), &chart(&format!("{what}: training loss"), "steps", &series, true))
}
