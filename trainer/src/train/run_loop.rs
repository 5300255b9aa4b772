//! The training loop every objective shares: warmup + cosine learning rate, the optimizer
//! step, loss logging without a device sync per step, a NaN guard that stops with the step
//! range and keeps the last good checkpoint, a time budget, and resume from checkpoints.

use super::checkpoint;
use super::curves;
use super::lock::RunLock;
use super::optimizer::Optimizer;
use super::step::{StepAt, Stepper};
use anyhow::{bail, Result};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Schedule {
    pub steps: usize,
    pub lr: f64,
    pub warmup: usize,
    /// Final learning rate as a fraction of `lr` (cosine decay); 1 keeps it constant.
    pub final_fraction: f64,
}

impl Schedule {
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let p = (step - self.warmup) as f64 / (self.steps - self.warmup).max(1) as f64;
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos());
        self.lr * (self.final_fraction + (1.0 - self.final_fraction) * cos)
    }
}

#[derive(Clone, Debug)]
pub struct LoopSpec {
    pub what: &'static str,
    pub schedule: Schedule,
    pub log_every: usize,
    pub checkpoint_every: usize,
    pub max_minutes: Option<f64>,
    /// Clip gradients to this global norm (all parameters together) before each step.
    pub global_clip: Option<f64>,
}

/// How a run logs, checkpoints and stops: settings that may change between resumes.
#[derive(clap::Args, Clone, Debug)]
pub struct LoopControl {
    #[arg(long, default_value_t = 100)]
    pub log_every: usize,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many minutes; rerun the command to continue.
    #[arg(long)]
    pub max_minutes: Option<f64>,
}

impl LoopControl {
    pub fn spec(&self, what: &'static str, schedule: Schedule) -> LoopSpec {
        LoopSpec {
            what,
            schedule,
            log_every: self.log_every.max(1),
            checkpoint_every: self.checkpoint_every.max(1),
            max_minutes: self.max_minutes,
            global_clip: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub step: usize,
    pub loss: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// What a checkpoint remembers besides the weights. `settings` are the command's arguments that
/// must not change on resume.
#[derive(Serialize, Deserialize)]
struct State {
    step: usize,
    settings: serde_json::Value,
    history: Vec<Row>,
}

/// More steps than any run here needs; a checkpoint claiming more is damaged.
const MAX_STEPS: usize = 100_000_000;

/// Whether the logged history runs past the checkpoint's step (a state file edited or mixed up).
fn history_beyond(state: &State) -> bool {
    state.history.last().is_some_and(|r| r.step > state.step)
}

/// Whether a checkpoint's settings are `now`'s, leaving out where the run folder is: a copied
/// or renamed folder resumes.
fn same_settings(checkpoint: &serde_json::Value, now: &serde_json::Value) -> bool {
    fn placeless(v: &serde_json::Value) -> serde_json::Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("out");
            if let Some(args) = o.get_mut("args").and_then(|a| a.as_object_mut()) {
                args.remove("out");
            }
        }
        v
    }
    placeless(checkpoint) == placeless(now)
}

pub enum Outcome {
    Finished,
    /// Stopped at the time budget; the checkpoint holds the progress.
    Paused,
}

/// Where a training run lives and what it keeps: its folder, its loop settings, the command's
/// arguments that a resume must match.
pub struct Run<'a> {
    pub dir: &'a Path,
    pub spec: &'a LoopSpec,
    pub settings: serde_json::Value,
}

impl Run<'_> {
    /// Trains (or resumes) `model` with `optim`. `stepper` makes each step's update
    /// ([`super::step::Local`] from a loss, or `DataParallel` over several devices); `export`
    /// makes the model's weights file (written with every checkpoint); `on_checkpoint` runs just
    /// before each checkpoint (validation, best-model selection).
    pub fn train<M: Module, O: Optimizer>(
        self,
        model: M,
        optim: O,
        export: impl Fn(&M) -> Result<Vec<u8>>,
        stepper: impl Stepper<M, O>,
        on_checkpoint: impl FnMut(&M, usize) -> Result<()>,
    ) -> Result<(M, Outcome)> {
        let Run { dir: run_dir, spec, settings } = self;
        let (mut model, mut optim, mut stepper, mut on_checkpoint) = (model, optim, stepper, on_checkpoint);
        let _lock = RunLock::take(run_dir)?;
        if spec.schedule.steps > MAX_STEPS {
            bail!("--steps {} is more than {MAX_STEPS}", spec.schedule.steps);
        }
        let mut history = Vec::new();
        let mut start = 0;
        if let Some(dir) = checkpoint::find(run_dir)? {
            let state: State = checkpoint::load_state(&dir)?;
            if state.step > MAX_STEPS || history_beyond(&state) {
                bail!(
                    "{} says step {} (its history reaches {}): the checkpoint is damaged; remove {} to start over",
                    dir.join("state.json").display(),
                    state.step,
                    state.history.last().map_or(0, |r| r.step),
                    dir.display()
                );
            }
            if !same_settings(&state.settings, &settings) {
                bail!(
                    "{} holds a checkpoint made with other settings:\n  checkpoint: {}\n  now:        {}\nuse another --out folder, or delete that one to start over",
                    run_dir.display(),
                    state.settings,
                    settings
                );
            }
            model = checkpoint::load_model(&dir, model)?;
            optim = checkpoint::load_optim(&dir, optim)?;
            start = state.step;
            history = state.history;
            eprintln!("{}: resuming from step {start} ({})", spec.what, dir.display());
        }
        let steps = spec.schedule.steps;
        let began = Instant::now();
        let seconds_before = history.last().map_or(0.0, |r: &Row| r.seconds);
        let bar = crate::progress::bar_from(steps, start, spec.what);
        let mut acc: Option<Tensor<1>> = None;
        let mut in_acc = 0;
        let mut step = start;
        let save = |model: &M, optim: &O, step: usize, history: &Vec<Row>| -> Result<()> {
            checkpoint::save(
                run_dir,
                model,
                optim,
                &State { step, settings: settings.clone(), history: history.clone() },
                &export(model)?,
            )?;
            curves::write(run_dir, spec.what, history)
        };
        while step < steps {
            let lr = spec.schedule.lr(step);
            let (next, l) = stepper.step(model, &mut optim, StepAt { step, lr, clip: spec.global_clip });
            model = next;
            acc = Some(match acc {
                Some(a) => a + l,
                None => l,
            });
            in_acc += 1;
            step += 1;
            let out_of_time = spec.max_minutes.is_some_and(|m| began.elapsed().as_secs_f64() > 60.0 * m);
            if step % spec.log_every == 0 || step == steps || out_of_time {
                let mean = acc.take().expect("accumulated").into_scalar::<f64>() / in_acc as f64;
                if !mean.is_finite() {
                    bail!(
                        "{}: the loss became {mean} between steps {} and {step} (lr {lr:.2e}); the last good checkpoint in {} is kept. Lower --lr or raise --warmup, then rerun to resume.",
                        spec.what,
                        step - in_acc,
                        run_dir.display()
                    );
                }
                in_acc = 0;
                let seconds = seconds_before + began.elapsed().as_secs_f64();
                history.push(Row { step, loss: mean, lr, seconds });
                bar.set_position(step as u64);
                bar.set_message(format!("loss {mean:.4}"));
                if bar.is_hidden() {
                    eprintln!("{} step {step}/{steps} loss {mean:.5} lr {lr:.2e} {seconds:.0}s", spec.what);
                }
            }
            if step % spec.checkpoint_every == 0 || step == steps || out_of_time {
                on_checkpoint(&model, step)?;
                save(&model, &optim, step, &history)?;
            }
            if out_of_time && step < steps {
                bar.abandon();
                eprintln!("{}: time budget reached at step {step}/{steps}; checkpoint saved, run the same command again to continue", spec.what);
                return Ok((model, Outcome::Paused));
            }
        }
        bar.finish();
        Ok((model, Outcome::Finished))
    }
}
