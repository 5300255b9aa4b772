//! What a prompt asks for ([`PromptSpec`]), its English text, and the parser back from text.
//!
//! Grammar (words from [`crate::text::vocabulary`]):
//! ```text
//! prompt   := phrase | phrase "and" phrase | phrase relation phrase
//! phrase   := ("a" | "an") [colour] shape | ("two" | "three" | "four") [colour] shapes
//! relation := "to the left of" | "to the right of" | "above" | "below"
//! ```
//! Counts above one stand alone (GenEval's counting prompts), and two objects of one shape must
//! carry two different colours, so that every prompt has one unambiguous reading.

use super::palette::{Colour, Shape};
use crate::text::{self, PromptError, ARTICLES, NUMBERS};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectSpec {
    pub shape: Shape,
    /// `None`: any colour will do.
    pub colour: Option<Colour>,
    pub count: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    LeftOf,
    RightOf,
    Above,
    Below,
}

impl Relation {
    pub const ALL: [Relation; 4] = [Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below];

    pub fn text(self) -> &'static str {
        match self {
            Relation::LeftOf => "to the left of",
            Relation::RightOf => "to the right of",
            Relation::Above => "above",
            Relation::Below => "below",
        }
    }

    /// "A left of B" is "B right of A".
    pub fn converse(self) -> Relation {
        match self {
            Relation::LeftOf => Relation::RightOf,
            Relation::RightOf => Relation::LeftOf,
            Relation::Above => Relation::Below,
            Relation::Below => Relation::Above,
        }
    }
}

/// GenEval's six task types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    SingleObject,
    TwoObject,
    Counting,
    Colors,
    Position,
    ColorAttr,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::SingleObject,
        Category::TwoObject,
        Category::Counting,
        Category::Colors,
        Category::Position,
        Category::ColorAttr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::SingleObject => "single_object",
            Category::TwoObject => "two_object",
            Category::Counting => "counting",
            Category::Colors => "colors",
            Category::Position => "position",
            Category::ColorAttr => "color_attr",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PromptSpec {
    /// One or two object groups.
    pub objects: Vec<ObjectSpec>,
    /// With two objects: objects[0] stands in this relation to objects[1].
    pub relation: Option<Relation>,
}

impl PromptSpec {
    pub fn category(&self) -> Category {
        match (self.objects.as_slice(), self.relation) {
            ([o], _) if o.count > 1 => Category::Counting,
            ([o], _) if o.colour.is_some() => Category::Colors,
            ([_], _) => Category::SingleObject,
            (_, Some(_)) => Category::Position,
            ([a, b], None) if a.colour.is_some() && b.colour.is_some() => Category::ColorAttr,
            _ => Category::TwoObject,
        }
    }

    pub fn text(&self) -> String {
        let phrases: Vec<String> = self.objects.iter().map(phrase_text).collect();
        match self.relation {
            None => phrases.join(" and "),
            Some(r) => format!("{} {} {}", phrases[0], r.text(), phrases[1]),
        }
    }

    /// The same request with its two objects written the other way round
    /// ("A and B" -> "B and A", "A left of B" -> "B right of A"); itself for one object.
    pub fn mirrored(&self) -> PromptSpec {
        let mut objects = self.objects.clone();
        objects.reverse();
        PromptSpec { objects, relation: self.relation.map(Relation::converse) }
    }

    /// One key for every wording of the same request: held-out splits are made on this, so an
    /// evaluation prompt cannot reach training by swapping its two halves.
    pub fn composition_key(&self) -> String {
        let swap = match self.relation {
            Some(r) => matches!(r, Relation::RightOf | Relation::Below),
            None => self.objects.len() == 2 && self.objects[0] > self.objects[1],
        };
        if swap {
            self.mirrored().text()
        } else {
            self.text()
        }
    }

    pub fn parse(prompt: &str) -> Result<PromptSpec, PromptError> {
        let words = text::words(prompt)?;
        let mut at = 0;
        let first = phrase(&words, &mut at)?;
        let relation = match words.get(at) {
            None => return Ok(PromptSpec { objects: vec![first], relation: None }),
            Some(&"and") => {
                at += 1;
                None
            }
            Some(_) => Some(relation(&words, &mut at)?),
        };
        let second = phrase(&words, &mut at)?;
        if let Some(extra) = words.get(at) {
            return Err(grammar(format!("unexpected '{extra}' after the second object")));
        }
        let spec = PromptSpec { objects: vec![first, second], relation };
        spec.check_two_objects()?;
        Ok(spec)
    }

    fn check_two_objects(&self) -> Result<(), PromptError> {
        let [a, b] = [self.objects[0], self.objects[1]];
        if a.count > 1 || b.count > 1 {
            return Err(grammar(
                "counts above one are for a prompt with one object group, e.g. \"three red stars\"".into(),
            ));
        }
        if a.shape == b.shape && (a.colour.is_none() || b.colour.is_none() || a.colour == b.colour) {
            return Err(grammar(format!(
                "two {} need two different colours to tell them apart, e.g. \"a red {} and a blue {}\"",
                a.shape.plural(),
                a.shape.name(),
                a.shape.name()
            )));
        }
        Ok(())
    }
}

fn grammar(msg: String) -> PromptError {
    PromptError::Grammar(msg)
}

fn phrase_text(o: &ObjectSpec) -> String {
    let noun = if o.count == 1 { o.shape.name() } else { o.shape.plural() };
    let body = match o.colour {
        Some(c) => format!("{} {noun}", c.name()),
        None => noun.to_string(),
    };
    let det = match o.count {
        1 if body.starts_with(['a', 'e', 'i', 'o', 'u']) => "an".to_string(),
        1 => "a".to_string(),
        n => NUMBERS.get(n as usize - 2).map_or_else(|| n.to_string(), |w| w.to_string()),
    };
    format!("{det} {body}")
}

fn phrase(words: &[&str], at: &mut usize) -> Result<ObjectSpec, PromptError> {
    let det = *words.get(*at).ok_or_else(|| grammar("expected an object after the last word".into()))?;
    let count = if ARTICLES.contains(&det) {
        1
    } else if let Some(i) = NUMBERS.iter().position(|n| *n == det) {
        i as u8 + 2
    } else {
        return Err(grammar(format!("expected 'a', 'an', 'two', 'three' or 'four' where '{det}' stands")));
    };
    *at += 1;
    let colour = words.get(*at).and_then(|w| Colour::ALL.into_iter().find(|c| c.name() == *w));
    if colour.is_some() {
        *at += 1;
    }
    let noun = *words.get(*at).ok_or_else(|| grammar(format!("expected a shape after '{}'", words[*at - 1])))?;
    let shape = Shape::ALL
        .into_iter()
        .find(|s| s.name() == noun || s.plural() == noun)
        .ok_or_else(|| grammar(format!("expected a shape where '{noun}' stands")))?;
    let wanted = if count == 1 { shape.name() } else { shape.plural() };
    if noun != wanted {
        return Err(grammar(format!("'{det} … {noun}': write '{wanted}'")));
    }
    *at += 1;
    Ok(ObjectSpec { shape, colour, count })
}

fn relation(words: &[&str], at: &mut usize) -> Result<Relation, PromptError> {
    for r in Relation::ALL {
        let parts: Vec<&str> = r.text().split(' ').collect();
        if words[*at..].starts_with(&parts) {
            *at += parts.len();
            return Ok(r);
        }
    }
    Err(grammar(format!(
        "expected 'and', 'to the left of', 'to the right of', 'above' or 'below' where '{}' stands",
        words[*at]
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(shape: Shape, colour: Option<Colour>, count: u8) -> ObjectSpec {
        ObjectSpec { shape, colour, count }
    }

    #[test]
    fn parses_each_task_type_and_prints_it_back() {
        let cases = [
            ("a circle", Category::SingleObject),
            ("an orange star", Category::Colors),
            ("three green triangles", Category::Counting),
            ("four squares", Category::Counting),
            ("a circle and a red square", Category::TwoObject),
            ("a red circle and a blue square", Category::ColorAttr),
            ("a red circle and a blue circle", Category::ColorAttr),
            ("a blue circle to the left of a yellow square", Category::Position),
            ("a star below an orange triangle", Category::Position),
        ];
        for (text, cat) in cases {
            let spec = PromptSpec::parse(text).unwrap();
            assert_eq!(spec.category(), cat, "{text}");
            assert_eq!(spec.text(), text);
        }
        let spec = PromptSpec::parse("A Blue circle to the right of a yellow square.").unwrap();
        assert_eq!(
            spec,
            PromptSpec {
                objects: vec![obj(Shape::Circle, Some(Colour::Blue), 1), obj(Shape::Square, Some(Colour::Yellow), 1)],
                relation: Some(Relation::RightOf)
            }
        );
    }

    #[test]
    fn composition_key_ignores_word_order() {
        let pairs = [
            ("a circle and a red square", "a red square and a circle"),
            ("a star to the left of a square", "a square to the right of a star"),
            ("a star above a square", "a square below a star"),
        ];
        for (a, b) in pairs {
            let (a, b) = (PromptSpec::parse(a).unwrap(), PromptSpec::parse(b).unwrap());
            assert_eq!(a.composition_key(), b.composition_key());
            assert_eq!(a.mirrored(), b);
        }
        let (a, b) =
            (PromptSpec::parse("a star above a square").unwrap(), PromptSpec::parse("a star below a square").unwrap());
        assert_ne!(a.composition_key(), b.composition_key());
    }

    #[test]
    fn grammar_errors_say_what_is_wrong() {
        for (text, needle) in [
            ("red circle", "expected 'a', 'an'"),
            ("a red", "expected a shape after 'red'"),
            ("a circles", "write 'circle'"),
            ("three circle", "write 'circles'"),
            ("a circle and", "expected an object"),
            ("a circle left of a square", "where 'left' stands"),
            ("two circles and a square", "counts above one"),
            ("a circle and a circle", "two different colours"),
            ("a circle and a square and", "unexpected 'and'"),
        ] {
            let err = PromptSpec::parse(text).unwrap_err();
            assert!(matches!(err, PromptError::Grammar(_)), "{text}: {err:?}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
