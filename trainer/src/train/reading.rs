//! Reading the prompt: a training-only loss that makes the teacher's prompt transformer say, at
//! every colour and shape word, which object the word belongs to (that object's shape and
//! colour) and on which side of the relation the object stands. The diffusion loss alone leaves
//! that binding out of the token features (`trainer read-prompts` measures it with linear
//! probes), and a teacher without it draws the right shapes and colours on the wrong objects.
//! The head is dropped when the weights are written: the product's generator is unchanged.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use hypernoise::generator::Generator;
use hypernoise::text::MAX_TOKENS;
use hypernoise::world::{Colour, PromptSpec, Relation, Shape};

/// Shape (4), colour (6 and "none": any colour), side (no relation, left or top, right or below).
const SHAPES: usize = Shape::ALL.len();
const COLOURS: usize = Colour::ALL.len() + 1;
const SIDES: usize = 3;

/// Per token slot: (shape, colour, side) of the object the word names; -1 for words that name
/// no object (articles, numbers, "and", the relation, padding).
pub type Targets = [[i32; 3]; MAX_TOKENS];

pub const NOTHING: Targets = [[-1; 3]; MAX_TOKENS];

/// A colour's class: its place in [`Colour::ALL`], or the last class for "any colour".
pub fn colour_class(colour: Option<Colour>) -> usize {
    colour.map_or(COLOURS - 1, |c| Colour::ALL.iter().position(|&x| x == c).expect("a world colour"))
}

/// Where `spec`'s object `object` stands: 0 without a relation, 1 on the left or top, 2 on the
/// right or below.
pub fn side(spec: &PromptSpec, object: usize) -> usize {
    match spec.relation {
        None => 0,
        Some(r) if matches!(r, Relation::LeftOf | Relation::Above) == (object == 0) => 1,
        Some(_) => 2,
    }
}

/// A colour or shape word of a prompt's text: its token slot, the object it names (its place in
/// `spec.objects`) and whether it is the shape word.
pub struct ObjectWord {
    pub slot: usize,
    pub object: usize,
    pub is_shape: bool,
}

/// The colour and shape words of `spec`'s text (the text is the grammar's, word for word).
pub fn object_words(spec: &PromptSpec) -> Vec<ObjectWord> {
    let mut object = 0;
    let mut out = Vec::new();
    for (slot, word) in spec.text().split(' ').enumerate() {
        let is_shape = Shape::ALL.iter().any(|s| s.name() == word || s.plural() == word);
        if is_shape || Colour::ALL.iter().any(|c| c.name() == word) {
            out.push(ObjectWord { slot, object, is_shape });
            object += usize::from(is_shape);
        }
    }
    out
}

/// What each word of `spec`'s text names.
pub fn targets(spec: &PromptSpec) -> Targets {
    let mut out = NOTHING;
    for w in object_words(spec) {
        let o = spec.objects[w.object];
        let shape = Shape::ALL.iter().position(|&s| s == o.shape).expect("a world shape");
        out[w.slot] = [shape as i32, colour_class(o.colour) as i32, side(spec, w.object) as i32];
    }
    out
}

/// The generator being taught, and the head that reads its encoded prompt (absent when the
/// reading loss is off).
#[derive(Module, Debug)]
pub struct Taught {
    pub generator: Generator,
    pub reader: Option<Linear>,
}

impl Taught {
    pub fn new(generator: Generator, token_dim: Option<usize>, device: &Device) -> Self {
        let reader = token_dim.map(|d| LinearConfig::new(d, SHAPES + COLOURS + SIDES).init(device));
        Taught { generator, reader }
    }
}

/// Mean cross-entropy of the reader's three answers over the words that name an object;
/// `cond` is the encoded prompt (B, 1 + MAX_TOKENS, token_dim), its first slot the summary.
pub fn reading_loss(reader: &Linear, cond: Tensor<3>, targets: &[Targets], device: &Device) -> Tensor<1> {
    let [b, slots, d] = cond.dims();
    let words = cond.slice([0..b, 1..slots, 0..d]);
    let logits = reader.forward(words);
    let flat: Vec<i32> = targets.iter().flatten().flatten().copied().collect();
    let all = Tensor::<3, Int>::from_data(TensorData::new(flat, [b, MAX_TOKENS, 3]), device);
    let groups = [(0, SHAPES), (SHAPES, COLOURS), (SHAPES + COLOURS, SIDES)];
    let terms: Vec<Tensor<1>> = groups
        .iter()
        .enumerate()
        .map(|(k, &(from, n))| {
            let target = all.clone().slice([0..b, 0..MAX_TOKENS, k..k + 1]);
            let mask = target.clone().greater_equal_elem(0).float();
            let logp = log_softmax(logits.clone().slice([0..b, 0..MAX_TOKENS, from..from + n]), 2);
            let picked = logp.gather(2, target.clamp_min(0)) * mask.clone();
            -picked.sum() / mask.sum().clamp_min(1.0)
        })
        .collect();
    Tensor::cat(terms, 0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::Initializer;

    #[test]
    fn every_colour_and_shape_word_names_its_object_and_side() {
        let spec = PromptSpec::parse("a purple square to the right of a circle").unwrap();
        let t = targets(&spec);
        let (purple, none) = (Colour::ALL.iter().position(|c| c.name() == "purple").unwrap() as i32, 6);
        assert_eq!(t[1], [1, purple, 2], "'purple' names the square, which stands right");
        assert_eq!(t[2], [1, purple, 2]);
        assert_eq!(t[8], [0, none, 1], "'circle' names the circle, on the left, of any colour");
        for slot in [0, 3, 4, 5, 6, 7, 9, 10, 11] {
            assert_eq!(t[slot], [-1; 3], "slot {slot} names no object");
        }
        let counted = targets(&PromptSpec::parse("three red stars").unwrap());
        assert_eq!(counted[2][0], 3, "plural shapes are read too");
        assert_eq!(counted[2][2], 0, "no relation");
    }

    #[test]
    fn a_reader_that_guesses_pays_the_price_of_guessing_and_padding_costs_nothing() {
        let device = Device::flex();
        let t = targets(&PromptSpec::parse("a red circle and a blue square").unwrap());
        let guesser = LinearConfig::new(4, SHAPES + COLOURS + SIDES).with_initializer(Initializer::Zeros).init(&device);
        let cond = || Tensor::<3>::random([2, 1 + MAX_TOKENS, 4], burn::tensor::Distribution::Default, &device);
        let loss: f32 = reading_loss(&guesser, cond(), &[t, NOTHING], &device).into_scalar();
        let guessing = (SHAPES as f32).ln() + (COLOURS as f32).ln() + (SIDES as f32).ln();
        assert!((loss - guessing).abs() < 1e-4, "{loss} against {guessing}");
        let nothing: f32 = reading_loss(&guesser, cond(), &[NOTHING, NOTHING], &device).into_scalar();
        assert_eq!(nothing, 0.0, "dropped prompts name no object");
    }
}
