//! PNG files in and out, with errors that name the file.

use crate::files;
use anyhow::{bail, Context, Result};
use hypernoise::world::Image;
use std::fs::File;
use std::path::Path;

/// Writes an 8-bit RGB PNG whole or not at all ([`files::write`]).
pub fn write(path: &Path, img: &Image) -> Result<()> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, img.width as u32, img.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().with_context(|| format!("cannot encode {}", path.display()))?;
    w.write_image_data(&img.rgb).with_context(|| format!("cannot encode {}", path.display()))?;
    w.finish().with_context(|| format!("cannot encode {}", path.display()))?;
    files::write(path, &bytes)
}

/// The largest image side read: the header is checked before any pixels are allocated, so a
/// tiny file claiming 60000x60000 pixels is refused instead of allocating gigabytes.
const MAX_SIDE: u32 = 4096;

/// Reads an 8-bit RGB or RGBA PNG.
pub fn read(path: &Path) -> Result<Image> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().with_context(|| format!("{} is not a readable PNG", path.display()))?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width > MAX_SIDE || height > MAX_SIDE {
        bail!("{} is {width}x{height} pixels; images up to {MAX_SIDE} on a side are read", path.display());
    }
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
