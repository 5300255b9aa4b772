//! Prompt encoding: the fixed vocabulary and the tokenizer. The vocabulary is built from the
//! world's own word lists, so a word the world can draw is always a word the model can read.

use crate::world::{Colour, Shape};
use std::sync::OnceLock;

/// Token id 0 pads every prompt to [`MAX_TOKENS`].
pub const PAD: &str = "<pad>";
/// Longest prompt the grammar makes is 10 words ("a purple triangle to the right of an orange star").
pub const MAX_TOKENS: usize = 12;

pub const ARTICLES: [&str; 2] = ["a", "an"];
pub const NUMBERS: [&str; 3] = ["two", "three", "four"];
pub const GLUE: [&str; 7] = ["and", "to", "the", "left", "right", "of", "above"];
pub const BELOW: &str = "below";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("the prompt is empty; try e.g. \"a red circle to the left of a blue square\"")]
    Empty,
    #[error("unknown word '{word}' in the prompt; the vocabulary is: {}", vocabulary()[1..].join(", "))]
    UnknownWord { word: String },
    #[error("the prompt has {0} words; at most {MAX_TOKENS} are supported")]
    TooLong(usize),
    #[error("cannot read the prompt: {0}")]
    Grammar(String),
}

/// The vocabulary in token-id order (id 0 is [`PAD`]).
pub fn vocabulary() -> &'static [&'static str] {
    static VOCAB: OnceLock<Vec<&'static str>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut v = vec![PAD];
        v.extend(ARTICLES);
        v.extend(NUMBERS);
        v.extend(Colour::ALL.map(Colour::name));
        for s in Shape::ALL {
            v.extend([s.name(), s.plural()]);
        }
        v.extend(GLUE);
        v.push(BELOW);
        v
    })
}

/// Lower-cases, splits on white space and drops sentence punctuation; every word must be in
/// the vocabulary.
pub fn words(prompt: &str) -> Result<Vec<&'static str>, PromptError> {
    let vocab = vocabulary();
    let words: Vec<&'static str> = prompt
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ',' | '!' | '"')).to_lowercase())
        .filter(|w| !w.is_empty())
        .map(|w| vocab.iter().find(|v| **v == w).copied().ok_or(PromptError::UnknownWord { word: w }))
        .collect::<Result<_, _>>()?;
    match words.len() {
        0 => Err(PromptError::Empty),
        n if n > MAX_TOKENS => Err(PromptError::TooLong(n)),
        _ => Ok(words),
    }
}

/// Token ids padded with 0 to [`MAX_TOKENS`].
pub fn encode(prompt: &str) -> Result<[u32; MAX_TOKENS], PromptError> {
    let vocab = vocabulary();
    let mut ids = [0u32; MAX_TOKENS];
    for (slot, w) in ids.iter_mut().zip(words(prompt)?) {
        *slot = vocab.iter().position(|v| *v == w).expect("words() only returns vocabulary") as u32;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_words_and_pads() {
        let ids = encode("Three green triangles.").unwrap();
        let v = vocabulary();
        assert_eq!(v[ids[0] as usize], "three");
        assert_eq!(v[ids[1] as usize], "green");
        assert_eq!(v[ids[2] as usize], "triangles");
        assert!(ids[3..].iter().all(|&i| i == 0));
        let mut unique = v.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), v.len(), "vocabulary has duplicates");
    }

    #[test]
    fn unknown_word_names_the_word_and_lists_the_vocabulary() {
        let err = encode("a red dog").unwrap_err();
        assert_eq!(err, PromptError::UnknownWord { word: "dog".into() });
        let msg = err.to_string();
        assert!(
            msg.contains("'dog'") && msg.contains("circle") && msg.contains("purple") && !msg.contains("<pad>"),
            "{msg}"
        );
        assert_eq!(encode("   ").unwrap_err(), PromptError::Empty);
        assert!(matches!(encode(&"a ".repeat(13)), Err(PromptError::TooLong(13))));
    }
}
