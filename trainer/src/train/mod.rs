//! What every training command shares: the step loop with its schedule, NaN guard, progress
//! and time budget (`run_loop`), atomic checkpoints (`checkpoint`), world batches (`data`)
//! and loss curves (`curves`), preference pairs for the reward (`pairs`: rendered; `judged`: the
//! generator's own images, judged by the evaluator), the optimizer step (`step`, with
//! `optimizer`'s updates) with global-norm gradient clipping (`clip`), its inputs put on the device
//! a block of steps at a time (`step_inputs`), and batches split over several devices
//! (`data_parallel`, summing through `collective`).

pub mod checkpoint;
pub mod clip;
pub mod collective;
pub mod curves;
pub mod data;
pub mod data_parallel;
pub mod judged;
pub mod lock;
pub mod optimizer;
pub mod pairs;
pub mod reading;
pub mod run_loop;
pub mod step;
pub mod step_inputs;
