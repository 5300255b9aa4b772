//! The exact evaluator must be right: it passes ground-truth renders of the evaluation set
//! (>= 99% in every category) and fails images that contradict their prompt.

use hypernoise::eval::{detect, judge, Report};
use hypernoise::world::render::render;
use hypernoise::world::split::{items, prompts, Split};
use hypernoise::world::{Category, Colour, Image, PromptSpec, Scene};

fn ground_truth(spec: &PromptSpec, seed: u64) -> Image {
    render(&Scene::sample(spec, seed, 64))
}

/// Fraction of the held-out prompts' renders (seeds 0..seeds) that `judge` passes against `claim(spec)`.
fn pass_rate(cat: Category, seeds: u64, claim: impl Fn(&PromptSpec) -> Option<PromptSpec>) -> (f64, usize) {
    let (mut passed, mut total) = (0, 0);
    for spec in prompts(Split::Eval, cat).iter().chain(prompts(Split::Val, cat)) {
        let Some(claimed) = claim(spec) else { continue };
        for seed in 0..seeds {
            passed += judge(&claimed, &detect(&ground_truth(spec, seed))).correct as usize;
            total += 1;
        }
    }
    (passed as f64 / total as f64, total)
}

#[test]
fn passes_ground_truth_of_the_evaluation_set() {
    let mut report = Report::default();
    let mut failures = Vec::new();
    for item in items(Split::Eval) {
        let spec = PromptSpec::parse(&item.prompt).unwrap();
        let v = judge(&spec, &detect(&ground_truth(&spec, item.seed)));
        report.add(item.category, v.correct);
        if !v.correct {
            failures.push(format!("{} seed {}: {}", item.prompt, item.seed, v.reason));
        }
    }
    println!("{}", report.markdown("ground truth"));
    for cat in Category::ALL {
        let acc = report.accuracy(cat).unwrap();
        assert!(acc >= 0.99, "{cat:?} {acc:.4}; failures: {failures:#?}");
    }
}

#[test]
fn tolerates_blur() {
    let mut report = Report::default();
    for item in items(Split::Eval) {
        let spec = PromptSpec::parse(&item.prompt).unwrap();
        report.add(item.category, judge(&spec, &detect(&ground_truth(&spec, item.seed).box_blur())).correct);
    }
    println!("{}", report.markdown("3x3 blur"));
    assert!(Category::ALL.iter().all(|&c| report.accuracy(c).unwrap() >= 0.97), "{}", report.markdown("3x3 blur"));
}

#[test]
fn fails_a_wrong_count() {
    for delta in [-1i8, 1] {
        // "three triangles" judged as "two triangles" / "four triangles" (counts stay in 2..=4, where
        // GenEval's counting rule applies: "a triangle" is satisfied by any number of them)
        let (rate, n) = pass_rate(Category::Counting, 4, |s| {
            let mut c = s.clone();
            c.objects[0].count = (s.objects[0].count as i8 + delta) as u8;
            (2..=4).contains(&c.objects[0].count).then_some(c)
        });
        assert!(n >= 90 && rate <= 0.01, "count {delta:+}: {rate} of {n} passed");
    }
}

#[test]
fn fails_a_swapped_colour() {
    let (rate, n) = pass_rate(Category::Colors, 8, |s| {
        let mut c = s.clone();
        let i = Colour::ALL.iter().position(|&k| Some(k) == s.objects[0].colour).unwrap();
        c.objects[0].colour = Some(Colour::ALL[(i + 1) % Colour::ALL.len()]);
        Some(c)
    });
    assert!(n >= 80 && rate <= 0.01, "{rate} of {n} passed");
}

#[test]
fn fails_a_flipped_relation() {
    let (rate, n) = pass_rate(Category::Position, 1, |s| {
        Some(PromptSpec { relation: s.relation.map(|r| r.converse()), ..s.clone() })
    });
    assert!(n >= 400 && rate <= 0.01, "{rate} of {n} passed");
}

#[test]
fn fails_a_wrong_colour_binding() {
    // "a red circle and a blue square" judged as "a blue circle and a red square"
    let (rate, n) = pass_rate(Category::ColorAttr, 2, |s| {
        let (a, b) = (s.objects[0], s.objects[1]);
        (a.shape != b.shape).then(|| {
            let mut c = s.clone();
            c.objects[0].colour = b.colour;
            c.objects[1].colour = a.colour;
            c
        })
    });
    assert!(n >= 100 && rate <= 0.01, "{rate} of {n} passed");
}

#[test]
fn an_empty_canvas_satisfies_nothing() {
    let blank = Image::filled(64, 64, hypernoise::world::palette::BACKGROUND);
    for spec in items(Split::Eval).iter().step_by(7).map(|i| PromptSpec::parse(&i.prompt).unwrap()) {
        let v = judge(&spec, &detect(&blank));
        assert!(!v.correct && v.reason.starts_with("expected"), "{}: {}", spec.text(), v.reason);
    }
}
