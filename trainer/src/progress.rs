//! Progress bars with one look across commands: what is running, the bar, the count, a
//! message (a training run's loss), the rate and the time left.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `len` items of work called `what`, from `start` done.
pub fn bar_from(len: usize, start: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64).with_position(start as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {msg} ({per_sec}, eta {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

pub fn bar(len: usize, what: &str) -> ProgressBar {
    bar_from(len, 0, what)
}
