use super::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use super::*;
use crate::weights::{Architecture, WeightsError};

fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// A generator whose weights are all perturbed, so outputs depend on them (a fresh one's
/// output layer is zero).
pub(crate) fn randomised(config: &GeneratorConfig) -> Generator {
    let dev = Device::flex();
    let g = config.init(&dev);
    struct Jitter;
    impl burn::module::ModuleMapper for Jitter {
        fn map_float<const D: usize>(&mut self, p: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
            p.map(|t| {
                let noise = t.random_like(burn::tensor::Distribution::Normal(0.0, 0.05));
                t + noise
            })
        }
    }
    g.map(&mut Jitter)
}

fn inputs(n: usize, res: usize) -> (Tensor<4>, Tensor<2, Int>) {
    let dev = Device::flex();
    let prompts = [
        "a red circle",
        "three green triangles",
        "a blue star to the left of a yellow square",
        "a circle and a square",
    ];
    let ids = encode_prompts(&prompts[..n]).unwrap();
    (noise_tensor(&(0..n as u64).collect::<Vec<_>>(), res, &dev), tokens_tensor(&ids, &dev))
}

/// Both designs: token-conditioned and pooled.
fn designs() -> [GeneratorConfig; 2] {
    [GeneratorConfig::tiny(), GeneratorConfig::tiny_pooled()]
}

#[test]
fn fresh_generator_is_identity_and_shapes_hold() {
    for c in designs() {
        let g = c.init(&Device::flex());
        let (z, tokens) = inputs(2, c.resolution);
        let x = g.one_step(z.clone(), g.encode(tokens));
        assert_eq!(x.dims(), [2, 3, 16, 16]);
        assert_eq!(max_abs_diff(x, z), 0.0, "zero-initialised output layer: zero velocity");
    }
}

#[test]
fn samples_do_not_depend_on_their_batch() {
    for c in designs() {
        let g = randomised(&c);
        let (z, tokens) = inputs(4, c.resolution);
        let all = g.one_step(z.clone(), g.encode(tokens.clone()));
        let first = g.one_step(z.slice([0..1]), g.encode(tokens.slice([0..1])));
        assert!(max_abs_diff(all.slice([0..1]), first) < 1e-5, "{c:?}");
    }
}

/// The token-conditioned design reads word order: swapping which colour goes with which shape
/// changes the image, as does swapping the two sides of a relation.
#[test]
fn token_design_reads_word_order() {
    let c = GeneratorConfig::tiny();
    let g = randomised(&c);
    let dev = Device::flex();
    let z = noise_tensor(&[5, 5], c.resolution, &dev);
    let differ = |a: &str, b: &str| {
        let tokens = tokens_tensor(&encode_prompts(&[a, b]).unwrap(), &dev);
        let x = g.one_step(z.clone(), g.encode(tokens));
        max_abs_diff(x.clone().slice([0..1]), x.slice([1..2]))
    };
    // at random weights the tokens' positions are a small part of their features: order
    // changes the image by far less than other words do, but never by nothing
    assert!(differ("a red circle and a blue square", "a blue circle and a red square") > 1e-5);
    assert!(differ("a red circle to the left of a blue square", "a blue square to the left of a red circle") > 1e-5);
    assert_eq!(differ("a red circle", "a red circle"), 0.0);
}

#[test]
fn pooled_design_files_name_no_attention_and_keep_their_tensor_names() {
    let c = GeneratorConfig::tiny_pooled();
    let bytes = randomised(&c).to_bytes(&c).unwrap();
    let header = weights::read_header(&bytes).unwrap();
    assert!(!header.config.contains("attention"), "{}", header.config);
    assert!(
        header.tensors.contains_key("prompt.fc1.weight") && header.tensors.contains_key("unet.down.0.conv1.weight")
    );
    assert!(!header.tensors.keys().any(|k| k.contains("Pooled") || k.contains("attn") || k.starts_with("summary")));
    let t = GeneratorConfig::tiny();
    let header = weights::read_header(&randomised(&t).to_bytes(&t).unwrap()).unwrap();
    assert!(
        header.tensors.contains_key("prompt.layers.0.attn.q.weight")
            && header.tensors.contains_key("unet.mid.attn.cross_attn.k.weight")
    );
}

#[test]
fn weights_round_trip_and_bad_files_are_clear_errors() {
    let c = GeneratorConfig::tiny();
    let g = randomised(&c);
    let bytes = g.to_bytes(&c).unwrap();
    let (loaded, c2) = Generator::from_bytes(&bytes, &Device::flex()).unwrap();
    assert_eq!(c, c2);
    let (z, tokens) = inputs(2, c.resolution);
    let a = g.one_step(z.clone(), g.encode(tokens.clone()));
    let b = loaded.one_step(z, loaded.encode(tokens));
    assert_eq!(max_abs_diff(a, b), 0.0);

    let err = |bytes: &[u8]| Generator::from_bytes(bytes, &Device::flex()).expect_err("must fail");
    assert!(matches!(err(&bytes[..bytes.len() - 100]), WeightsError::Truncated(_)));
    assert!(matches!(err(&bytes[..5]), WeightsError::Truncated(_)));
    let mut corrupt = bytes.clone();
    corrupt[12] = b'#';
    assert!(matches!(err(&corrupt), WeightsError::Corrupt(_)));
    assert!(matches!(
        err(b"hello, this is not a weights file at all"),
        WeightsError::Truncated(_) | WeightsError::Corrupt(_)
    ));

    // a file whose config promises more channels than its tensors have
    let wider =
        GeneratorConfig { shape: crate::net_shape::NetShape { channels: vec![8, 24], ..c.shape.clone() }, ..c.clone() };
    let other = weights::save(&g, GeneratorConfig::KIND, &wider).unwrap();
    let e = err(&other);
    assert!(matches!(e, WeightsError::Mismatch(_)) && e.to_string().to_lowercase().contains("shape"), "{e}");
    let wrong_kind = weights::save(&g, "reward", &c).unwrap();
    assert!(matches!(err(&wrong_kind), WeightsError::WrongKind { .. }));
}

#[test]
fn seeded_noise_is_standard_normal_and_reproducible() {
    let n = noise::seeded(3, 64);
    assert_eq!(n, noise::seeded(3, 64));
    assert_ne!(n, noise::seeded(4, 64));
    let mean = n.iter().sum::<f32>() / n.len() as f32;
    let var = n.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n.len() as f32;
    assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{mean} {var}");
}

/// A batch's noise is each seed's own, in order, however many threads make it.
#[test]
fn batch_noise_is_each_seeds_noise_in_order() {
    for n in [1, 3, 9, 40] {
        let seeds: Vec<u64> = (0..n).map(|i| 1000 + 7 * i).collect();
        let expected: Vec<f32> = seeds.iter().flat_map(|&s| noise::seeded(s, 16)).collect();
        assert_eq!(noise::seeded_batch(&seeds, 16), expected, "{n} seeds");
    }
}

#[test]
fn compact_copies_are_smaller_and_load_to_nearly_the_same_model() {
    let c = GeneratorConfig::tiny();
    let g = randomised(&c);
    let bytes = g.to_bytes(&c).unwrap();
    let (z, tokens) = inputs(2, c.resolution);
    let a = g.one_step(z.clone(), g.encode(tokens.clone()));
    let range = a.clone().abs().max().into_scalar::<f32>();
    // (the tiny network's header and biases weigh more than a real one's: 8 bits give 38% here,
    // 25% on the shipped generator)
    type Convert = fn(&[u8]) -> Result<Vec<u8>, WeightsError>;
    for (what, convert, size, matrix_dtype, tolerance) in [
        ("f16", weights::to_f16 as Convert, 0.6, "F16", 1e-2 * range),
        ("8-bit", (|b| weights::quantize(b, 8)) as Convert, 0.45, "I8", 3e-2 * range),
        ("5-bit", (|b| weights::quantize(b, 5)) as Convert, 0.45, "I8", 0.15 * range),
    ] {
        let copy = convert(&bytes).unwrap();
        assert!((copy.len() as f32) < bytes.len() as f32 * size, "{what}: {} -> {} bytes", bytes.len(), copy.len());
        let header = weights::read_header(&copy).unwrap();
        let matrices = header.tensors.values().filter(|t| t.shape.len() >= 2);
        assert!(matrices.clone().count() > 0 && matrices.clone().all(|t| t.dtype == matrix_dtype), "{what}");
        let (loaded, c2) = Generator::from_bytes(&copy, &Device::flex()).unwrap();
        assert_eq!(c, c2);
        let diff = max_abs_diff(a.clone(), loaded.one_step(z.clone(), loaded.encode(tokens.clone())));
        assert!(diff > 0.0 && diff < tolerance, "{what} rounding changes outputs slightly: {diff} of {range}");
        assert!(matches!(
            Generator::from_bytes(&copy[..copy.len() - 10], &Device::flex()),
            Err(WeightsError::Truncated(_))
        ));
    }
    // 5 bits use levels -15..=15 of the 8-bit storage; at 4 the tiny network's matrices, all
    // smaller than SMALL_MATRIX, keep 8 bits
    let q5 = weights::quantize(&bytes, 5).unwrap();
    let header = weights::read_header(&q5).unwrap();
    let t = header.tensors.values().find(|t| t.dtype == "I8").unwrap();
    let data = &q5[header.data_start + t.offsets[0]..header.data_start + t.offsets[1]];
    assert!(
        data.iter().all(|&b| (-15..=15).contains(&(b as i8))) && data.iter().any(|&b| b as i8 == 15 || b as i8 == -15)
    );
    let (q4, q8) = (weights::quantize(&bytes, 4).unwrap(), weights::quantize(&bytes, 8).unwrap());
    assert!(q4 == q8 && header.tensors.values().all(|t| t.shape.iter().product::<usize>() < weights::SMALL_MATRIX));
    for bits in [0, 1, 9] {
        assert!(weights::quantize(&bytes, bits).is_err(), "{bits} bits");
    }
    // an 8-bit tensor whose row scales are missing is a readable error
    let q8 = weights::quantize(&bytes, 8).unwrap();
    // a file shipped at f16 quantises the same way, not kept at f16
    let q8_of_half = weights::quantize(&weights::to_f16(&bytes).unwrap(), 8).unwrap();
    assert_eq!(q8_of_half.len(), q8.len());
    let matrices = weights::read_header(&q8_of_half).unwrap().tensors.into_values().filter(|t| t.shape.len() >= 2);
    assert!(matrices.map(|t| t.dtype).all(|d| d == "I8"));
    let header = weights::read_header(&q8).unwrap();
    let name = header.tensors.iter().find(|(_, t)| t.dtype == "I8").map(|(n, _)| n.clone()).unwrap();
    let key = format!("{name}.q8_scale");
    let at = q8.windows(key.len()).position(|w| w == key.as_bytes()).unwrap();
    let mut renamed = q8.clone();
    renamed[at + key.len() - 1] = b'_';
    let e = Generator::from_bytes(&renamed, &Device::flex()).err().unwrap();
    assert!(e.to_string().contains("has no scales of its rows"), "{e}");
}

#[test]
fn shifted_times_keep_the_ends_and_move_towards_the_noise() {
    use super::flow::shift_time;
    for t in [0.0, 0.1, 0.5, 0.9, 1.0] {
        assert_eq!(shift_time(t, 1.0), t, "a shift of 1 leaves times as they are");
    }
    assert_eq!((shift_time(0.0, 3.0), shift_time(1.0, 3.0)), (0.0, 1.0), "the path's ends stay");
    assert!((shift_time(0.5, 3.0) - 0.25).abs() < 1e-6);
    let times: Vec<f32> = (0..=10).map(|i| shift_time(i as f32 / 10.0, 3.0)).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "still increasing: {times:?}");
}

#[test]
fn a_shifted_sampler_steps_from_the_noise_to_the_shifted_times() {
    let c = GeneratorConfig::tiny();
    let g = randomised(&c);
    let (z, tokens) = inputs(2, c.resolution);
    let sample = |steps, shift| flow::sample(&g, z.clone(), tokens.clone(), steps, 2.0, shift);
    assert!(max_abs_diff(sample(1, 3.0), sample(1, 1.0)) < 1e-6, "one step spans the whole path either way");
    // two Euler steps by hand: from t = 0 to shift_time(0.5), then on to 1
    let guided = |x: Tensor<4>, t: f32| {
        let t = Tensor::full([2], t, &Device::flex());
        let v = g.velocity(x.clone(), t.clone(), g.encode(tokens.clone()));
        let vu = g.velocity(x, t, g.encode(tokens.zeros_like()));
        vu.clone() + (v - vu) * 2.0
    };
    let mid = flow::shift_time(0.5, 3.0);
    let x = z.clone() + guided(z.clone(), 0.0) * mid;
    let x = x.clone() + guided(x, mid) * (1.0 - mid);
    assert!(max_abs_diff(sample(2, 3.0), x.clone()) < 1e-5);
    assert!(max_abs_diff(sample(2, 1.0), x) > 1e-4, "the shift changes where the second step starts");
}
