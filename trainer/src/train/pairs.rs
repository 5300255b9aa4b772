//! Preference pairs for the reward model: a training prompt's true scene (preferred) against
//! the scene of a hard negative (`hypernoise::reward::negatives`), both softened at random like
//! generated images (3x3 blur, pixel noise) so the reward transfers to generator outputs.

use super::data::sample_split_prompt;
use hypernoise::eval::evaluate;
use hypernoise::generator::noise::gaussian;
use hypernoise::reward::negatives::{perturb, Perturbation};
use hypernoise::rng::Rng;
use hypernoise::text::{self, MAX_TOKENS};
use hypernoise::world::render::render;
use hypernoise::world::split::Split;
use hypernoise::world::{Image, PromptSpec, Scene};

pub struct Pairs {
    pub tokens: Vec<[u32; MAX_TOKENS]>,
    /// (n, 3, res, res) each, in [-1, 1].
    pub preferred: Vec<f32>,
    pub rejected: Vec<f32>,
    pub kinds: Vec<Perturbation>,
}

fn soften(img: Image, rng: &mut Rng) -> Vec<f32> {
    let img = if rng.unit() < 0.5 { img.box_blur() } else { img };
    let sigma = rng.range(0.0, 0.1);
    let noise = gaussian(rng, img.rgb.len());
    let mut out = vec![0.0; img.rgb.len()];
    let plane = img.width * img.height;
    for (p, px) in img.rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + p] = px[c] as f32 / 127.5 - 1.0 + sigma * noise[c * plane + p];
        }
    }
    out
}

/// One pair for `spec`, if a perturbation yields a scene the exact evaluator rejects for it.
fn pair(
    spec: &PromptSpec,
    kinds: &[Perturbation],
    resolution: usize,
    rng: &mut Rng,
) -> Option<(Image, Image, Perturbation)> {
    let kind = *rng.pick(kinds);
    let negative = perturb(spec, kind, rng)?;
    let rejected = render(&Scene::sample(&negative, rng.next_u64(), resolution));
    let text = spec.text();
    if evaluate(&text, &rejected).ok()?.correct {
        return None;
    }
    Some((render(&Scene::sample(spec, rng.next_u64(), resolution)), rejected, kind))
}

/// `n` pairs for training prompts (`split` Train) or held-out ones (Val), from (seed, step),
/// each negative of one of `kinds`.
pub fn pairs(split: Split, kinds: &[Perturbation], seed: u64, step: usize, n: usize, resolution: usize) -> Pairs {
    let mut rng = Rng::for_step(seed, step, "pairs");
    let mut out = Pairs { tokens: vec![], preferred: vec![], rejected: vec![], kinds: vec![] };
    while out.tokens.len() < n {
        let spec = sample_split_prompt(&mut rng, split);
        let Some((good, bad, kind)) = pair(&spec, kinds, resolution, &mut rng) else { continue };
        out.tokens.push(text::encode(&spec.text()).expect("world prompts are in the vocabulary"));
        out.preferred.extend(soften(good, &mut rng));
        out.rejected.extend(soften(bad, &mut rng));
        out.kinds.push(kind);
    }
    out
}
