//! An 8-bit RGB image, the common currency of world, generators and evaluator.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// Row-major RGB triples.
    pub rgb: Vec<u8>,
}

impl Image {
    pub fn filled(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Image { width, height, rgb: colour.repeat(width * height) }
    }

    pub fn from_rgb(width: usize, height: usize, rgb: Vec<u8>) -> Result<Self, String> {
        if rgb.len() != width * height * 3 {
            return Err(format!(
                "{}x{} RGB image needs {} bytes, got {}",
                width,
                height,
                width * height * 3,
                rgb.len()
            ));
        }
        Ok(Image { width, height, rgb })
    }

    /// Drops the alpha channel of RGBA bytes (as a browser canvas or a PNG decoder gives them).
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Self, String> {
        if rgba.len() != width * height * 4 {
            return Err(format!(
                "{}x{} RGBA image needs {} bytes, got {}",
                width,
                height,
                width * height * 4,
                rgba.len()
            ));
        }
        Ok(Image { width, height, rgb: rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect() })
    }

    pub fn to_rgba(&self) -> Vec<u8> {
        self.rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    pub fn set_pixel(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        let i = 3 * (y * self.width + x);
        self.rgb[i..i + 3].copy_from_slice(&colour);
    }

    /// A 3x3 box blur (borders kept): renders softened like a generator's output.
    pub fn box_blur(&self) -> Image {
        let mut out = self.clone();
        for y in 1..self.height.saturating_sub(1) {
            for x in 1..self.width.saturating_sub(1) {
                let mut acc = [0u32; 3];
                for (dx, dy) in (0..9).map(|k| (k % 3, k / 3)) {
                    let p = self.pixel(x + dx - 1, y + dy - 1);
                    (0..3).for_each(|c| acc[c] += p[c] as u32);
                }
                out.set_pixel(x, y, acc.map(|v| (v / 9) as u8));
            }
        }
        out
    }
}
