//! Rasterisation with 4x4 supersampling: anti-aliased edges like a generator's output, yet
//! computed in integer arithmetic from exact coverage counts, so every platform agrees.

use super::image::Image;
use super::palette::BACKGROUND;
use super::scene::Scene;

const SUB: usize = 4;

pub fn render(scene: &Scene) -> Image {
    let mut img = Image::filled(scene.width, scene.height, BACKGROUND);
    for obj in &scene.objects {
        let b = obj.bbox();
        let (x0, y0) = (b.x0.floor().max(0.0) as usize, b.y0.floor().max(0.0) as usize);
        let (x1, y1) = ((b.x1.ceil() as usize).min(scene.width), (b.y1.ceil() as usize).min(scene.height));
        let colour = obj.colour.rgb();
        for y in y0..y1 {
            for x in x0..x1 {
                let covered = (0..SUB * SUB)
                    .filter(|i| {
                        let sx = x as f32 + ((i % SUB) as f32 + 0.5) / SUB as f32;
                        let sy = y as f32 + ((i / SUB) as f32 + 0.5) / SUB as f32;
                        obj.contains(sx, sy)
                    })
                    .count() as u32;
                if covered > 0 {
                    let bg = img.pixel(x, y);
                    let total = (SUB * SUB) as u32;
                    let mix = |k: usize| {
                        ((bg[k] as u32 * (total - covered) + colour[k] as u32 * covered + total / 2) / total) as u8
                    };
                    img.set_pixel(x, y, [mix(0), mix(1), mix(2)]);
                }
            }
        }
    }
    img
}
