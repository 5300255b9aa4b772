//! PNG files in and out, with errors that name the file.

use anyhow::{bail, Context, Result};
use hypernoise::world::Image;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub fn write(path: &Path, img: &Image) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), img.width as u32, img.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().with_context(|| format!("cannot write {}", path.display()))?;
    w.write_image_data(&img.rgb).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads an 8-bit RGB or RGBA PNG.
pub fn read(path: &Path) -> Result<Image> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().with_context(|| format!("{} is not a readable PNG", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf).with_context(|| format!("{} is not a readable PNG", path.display()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let bytes = &buf[..info.buffer_size()];
    let img = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => Image::from_rgb(w, h, bytes.to_vec()),
        (png::ColorType::Rgba, png::BitDepth::Eight) => Image::from_rgba(w, h, bytes),
        (c, d) => bail!("{}: {c:?} {d:?} PNG; 8-bit RGB or RGBA expected", path.display()),
    };
    img.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
