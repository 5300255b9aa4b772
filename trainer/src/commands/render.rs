use super::{ground_truth, OneImage};
use crate::png_io;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    image: OneImage,
    #[arg(long, default_value_t = hypernoise::world::DEFAULT_RESOLUTION, value_parser = clap::value_parser!(usize))]
    resolution: usize,
}

pub fn run(a: Args) -> Result<()> {
    let OneImage { prompt, seed, out } = &a.image;
    png_io::write(out, &ground_truth(prompt, *seed, a.resolution)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
