//! Shapes and named colours. Colours are chosen far apart in hue, because the evaluator
//! classifies colour by hue (robust to anti-aliased edges, which keep the hue of the object).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Shape::Circle => "circles",
            Shape::Square => "squares",
            Shape::Triangle => "triangles",
            Shape::Star => "stars",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
}

impl Colour {
    pub const ALL: [Colour; 6] =
        [Colour::Red, Colour::Orange, Colour::Yellow, Colour::Green, Colour::Blue, Colour::Purple];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
        }
    }

    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [214, 36, 36],
            Colour::Orange => [247, 124, 20],
            Colour::Yellow => [240, 222, 30],
            Colour::Green => [34, 160, 64],
            Colour::Blue => [36, 84, 214],
            Colour::Purple => [146, 52, 184],
        }
    }

    /// Hue in degrees of [`Colour::rgb`].
    pub fn hue(self) -> f32 {
        hue_of(self.rgb()).expect("palette colours are saturated")
    }
}

/// Plain light background.
pub const BACKGROUND: [u8; 3] = [240, 240, 240];

/// Hue in degrees [0, 360), or `None` for a grey pixel.
pub fn hue_of([r, g, b]: [u8; 3]) -> Option<f32> {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    if chroma == 0.0 {
        return None;
    }
    let h = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    Some(h * 60.0)
}

/// HSV saturation in [0, 1].
pub fn saturation([r, g, b]: [u8; 3]) -> f32 {
    let max = r.max(g).max(b) as f32;
    let min = r.min(g).min(b) as f32;
    if max == 0.0 {
        0.0
    } else {
        (max - min) / max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_hues_are_at_least_25_degrees_apart() {
        for a in Colour::ALL {
            for b in Colour::ALL {
                if a != b {
                    let d = (a.hue() - b.hue()).abs();
                    assert!(d.min(360.0 - d) >= 25.0, "{a:?} vs {b:?}: {d}");
                }
            }
        }
    }
}
