//! `trainer sample`: one image from a prompt and a seed (the shipped student by default).

use super::model_args::ModelArgs;
use super::OneImage;
use crate::backend::{DeviceKind, OnBackend};
use crate::png_io;
use anyhow::Result;
use burn::prelude::Device;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    image: OneImage,
    #[command(flatten)]
    model: ModelArgs,
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let OneImage { prompt, seed, out } = &self.image;
        let started = std::time::Instant::now();
        let (pipeline, method) = self.model.pipeline(&device.clone().inner())?;
        let images = pipeline.draw(method, self.model.strength, &[prompt], &[*seed], 1, |_| {})?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        png_io::write(out, &images[0])?;
        let verdict = hypernoise::eval::evaluate(prompt, &images[0]).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "wrote {} in {ms:.0} ms on {}; evaluator: {}",
            out.display(),
            crate::backend::describe(kind),
            verdict.reason
        );
        Ok(())
    }
}
