use super::*;
use crate::generator::layers::{is_adapter_path, map_params, train_adapters_only, AdapterAwareMap};
use crate::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use crate::generator::tests::randomised;
use crate::reward::analytic::redness;
use burn::optim::{GradientsParams, SgdConfig};
use compact::CompactConfig;
use light::LightConfig;
pub(crate) const LORA: Design = Design::Lora(LoraConfig { rank: 4, alpha: 4.0, offset_resolution: None });

pub(crate) fn generator_file() -> Vec<u8> {
    let c = GeneratorConfig::tiny();
    randomised(&c).to_bytes(&c).unwrap()
}

fn inputs(n: usize) -> (Tensor<4>, Tensor<2, Int>) {
    let dev = Device::flex();
    let prompts = ["a red circle", "two blue squares", "a green star above a red triangle"];
    let ids = encode_prompts(&prompts[..n]).unwrap();
    (noise_tensor(&(0..n as u64).collect::<Vec<_>>(), 16, &dev), tokens_tensor(&ids, &dev))
}

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// Moves every adapter parameter, as training would.
pub(crate) fn perturb_adapters(m: Adapted) -> Adapted {
    struct Shift;
    impl AdapterAwareMap for Shift {
        fn map<const D: usize>(
            &mut self,
            adapter: bool,
            p: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            p.map(|t| if adapter { t.clone() + t.random_like(burn::tensor::Distribution::Normal(0.0, 0.1)) } else { t })
        }
    }
    map_params(m, Shift)
}

/// Trained-looking adapters of `design` for `role` on `generator`: the unfolded model, its
/// config and its file.
pub(crate) fn trained_adapters(generator: &[u8], role: Role, design: Design) -> (Adapted, AdapterConfig, Vec<u8>) {
    let (a, config) = Adapted::fresh(generator, role, design, &Device::flex()).unwrap();
    let a = perturb_adapters(a);
    let bytes = a.to_bytes(&config).unwrap();
    (a, config, bytes)
}

#[test]
fn fresh_adapters_change_nothing() {
    let file = generator_file();
    let dev = Device::flex();
    let (g, _) = Generator::from_bytes(&file, &dev).unwrap();
    let (z, tokens) = inputs(3);
    let base = g.one_step(z.clone(), g.encode(tokens.clone()));
    for role in [Role::NoiseHypernetwork, Role::FineTune] {
        let (a, config) = Adapted::fresh(&file, role, LORA, &dev).unwrap();
        assert_eq!(config.generator_fingerprint, fingerprint(&file));
        assert_eq!(max_diff(a.model.noise_offset(z.clone(), tokens.clone()), z.zeros_like()), 0.0, "f = 0 at init");
        assert_eq!(
            max_diff(a.generate(role, z.clone(), tokens.clone(), 1.0, Sampler::OneStep), base.clone()),
            0.0,
            "{role:?} starts as the generator"
        );
    }
}

#[test]
fn adapter_files_hold_only_adapters_and_check_their_generator() {
    let file = generator_file();
    let dev = Device::flex();
    let (a, config, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, LORA);
    let header = weights::read_header(&bytes).unwrap();
    assert!(
        !header.tensors.is_empty() && header.tensors.keys().all(|k| is_adapter_path(k)),
        "{:?}",
        header.tensors.keys()
    );
    assert!(bytes.len() < file.len(), "adapters file {} bytes, generator {}", bytes.len(), file.len());

    let (loaded, c2) = Adapted::load(&file, &bytes, &dev).unwrap();
    assert_eq!(c2, config);
    let (z, tokens) = inputs(2);
    let f = a.model.noise_offset(z.clone(), tokens.clone());
    assert!(f.clone().abs().max().into_scalar::<f32>() > 1e-3, "perturbed adapters give f != 0");
    assert_eq!(max_diff(loaded.model.noise_offset(z.clone(), tokens.clone()), f), 0.0);
    // strength scales f: 0 is the plain generator
    assert_eq!(max_diff(a.modulate(z.clone(), tokens.clone(), 0.0), z.clone()), 0.0);

    let other = generator_file(); // another random generator of the same shape
    let e = Adapted::load(&other, &bytes, &dev).err().unwrap();
    assert!(e.to_string().contains("trained on generator"), "{e}");
    assert!(matches!(Generator::from_bytes(&bytes, &dev).err().unwrap(), WeightsError::WrongKind { .. }));
    assert!(matches!(
        Adapted::load(&file, &bytes[..bytes.len() - 10], &dev).err().unwrap(),
        WeightsError::Truncated(_)
    ));
}

#[test]
fn only_adapters_train_and_the_objective_raises_the_reward() {
    let file = generator_file();
    let dev = Device::flex().autodiff();
    // the light network's offsets are smaller per step: it is given a larger rate
    let lora = LoraConfig { rank: 8, alpha: 8.0, offset_resolution: None };
    let coarse = Design::Lora(LoraConfig { offset_resolution: Some(8), ..lora });
    for (design, lr) in [(Design::Lora(lora), 0.05), (coarse, 0.05), (LIGHT, 1.0), (COMPACT, 0.05)] {
        let (a, _) = Adapted::fresh(&file, Role::NoiseHypernetwork, design, &dev).unwrap();
        let mut a = train_adapters_only(a);
        let mut optim = SgdConfig::new().init();
        let (z, tokens) = inputs(3);
        let terms = |a: &Adapted| {
            objective_terms(a, Role::NoiseHypernetwork, Sampler::OneStep, z.clone(), tokens.clone(), |x, _| redness(x))
        };
        let reward_before: f32 = terms(&a).1.mean().into_scalar();
        for _ in 0..20 {
            let (reg, reward) = terms(&a);
            let loss = (reg * 1e-3 - reward).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &a);
            a = optim.step(lr, a, grads);
        }
        let (reg, reward) = terms(&a);
        let reward_after: f32 = reward.mean().into_scalar();
        assert!(reward_after > reward_before + 0.01, "{design}: redness {reward_before} -> {reward_after}");
        assert!(reg.mean().into_scalar::<f32>() > 0.0, "{design}: f moved the noise");
        // the generator itself is untouched: adapters off, it is the file's generator
        let after = a.model.valid();
        let (plain, _) = Generator::from_bytes(&file, &Device::flex()).unwrap();
        let (zb, tb) = inputs(3);
        let x0 = plain.one_step(zb.clone(), plain.encode(tb.clone()));
        let x1 = after.one_step(zb, after.encode(tb));
        assert_eq!(max_diff(x0, x1), 0.0, "{design}: adapters off = the frozen generator");
    }
}

#[test]
fn imitation_learns_what_the_light_network_can_express_of_a_teachers_offset() {
    let file = generator_file();
    let dev = Device::flex().autodiff();
    let (z, tokens) = inputs(3);
    let (teacher, _, _) = trained_adapters(&file, Role::NoiseHypernetwork, LORA);
    let target = teacher.offset(z.clone(), tokens.clone()).detach();
    let (a, _) = Adapted::fresh(&file, Role::NoiseHypernetwork, LIGHT, &dev).unwrap();
    let mut a = train_adapters_only(a);
    let gap = |a: &Adapted| imitation_terms(a, z.clone(), tokens.clone(), target.clone());
    // at init f = 0: the gap is the teacher's low frequencies alone (grid 4 of 16), not all of it
    let (reg, before) = gap(&a);
    assert_eq!(reg.sum().into_scalar::<f32>(), 0.0);
    let p = light::dct_basis(16, 4, &Device::flex());
    let pp = p.clone().matmul(p.transpose()).unsqueeze::<4>();
    let low = pp.clone().matmul(target.clone()).matmul(pp);
    let expected = half_squared_norms(low);
    assert!(max_diff(before.clone().reshape([3, 1, 1, 1]), expected.clone().reshape([3, 1, 1, 1])) < 1e-4);
    let all = half_squared_norms(target.clone()).sum().into_scalar::<f32>();
    let low_sum = expected.sum().into_scalar::<f32>();
    assert!(low_sum > 0.0 && low_sum < 0.9 * all, "the high frequencies are not asked for: {low_sum} of {all}");
    let mut optim = SgdConfig::new().init();
    for _ in 0..30 {
        let grads = GradientsParams::from_grads(gap(&a).1.mean().backward(), &a);
        a = optim.step(0.05, a, grads);
    }
    let (before, after) = (before.mean().into_scalar::<f32>(), gap(&a).1.mean().into_scalar::<f32>());
    assert!(after < 0.5 * before, "imitation gap {before} -> {after}");
}

#[test]
fn configs_in_files_are_bounded_and_checked_against_each_other() {
    let file = generator_file();
    let dev = Device::flex();
    // a generator's own config, out of bounds: refused before any network is built
    for (field, value) in [
        ("resolution", serde_json::json!(0)),
        ("resolution", serde_json::json!(8192)),
        ("channels", serde_json::json!(vec![8; 70])),
        ("channels", serde_json::json!([8, 100_000])),
    ] {
        let bad = weights::with_config(&file, |c| c[field] = value.clone());
        let e = Generator::from_bytes(&bad, &dev).err().unwrap_or_else(|| panic!("{field} = {value} loads"));
        assert!(matches!(e, WeightsError::Corrupt(_)), "{field} = {value}: {e}");
    }
    // adapters whose description of their generator is not the generator's
    let (a, config) = Adapted::fresh(&file, Role::NoiseHypernetwork, LORA, &dev).unwrap();
    let adapters = a.to_bytes(&config).unwrap();
    let bad = weights::with_config(&adapters, |c| c["generator"]["resolution"] = serde_json::json!(32));
    let e = Adapted::load(&file, &bad, &dev).err().unwrap();
    assert!(e.to_string().contains("describe their generator"), "{e}");
    // a LoRA scale that overflows f32 would make every image NaN
    for alpha in [1e39, -1.0, 0.0] {
        let bad = weights::with_config(&adapters, |c| c["lora"]["alpha"] = serde_json::json!(alpha));
        let e = Adapted::load(&file, &bad, &dev).err().unwrap_or_else(|| panic!("alpha {alpha} loads"));
        assert!(e.to_string().contains("alpha"), "{alpha}: {e}");
    }
}

#[test]
fn non_finite_weights_are_refused_at_load_naming_the_tensor() {
    let dev = Device::flex();
    let c = GeneratorConfig::tiny();
    struct Poison(bool);
    impl AdapterAwareMap for Poison {
        fn map<const D: usize>(
            &mut self,
            _adapter: bool,
            p: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let first = std::mem::replace(&mut self.0, false);
            p.map(|t| if first { t.clone().mul_scalar(f32::NAN) } else { t })
        }
    }
    let broken = map_params(randomised(&c), Poison(true));
    let bytes = broken.to_bytes(&c).unwrap();
    let e = Generator::from_bytes(&bytes, &dev).err().unwrap();
    assert!(matches!(e, WeightsError::NotFinite(_)), "{e}");
    assert!(e.to_string().contains("NaN or infinite"), "{e}");
    let half = weights::to_f16(&bytes).unwrap();
    assert!(matches!(Generator::from_bytes(&half, &dev), Err(WeightsError::NotFinite(_))), "f16 copies too");
}

/// LoRA adapters working on the tiny generator's 16 x 16 noise in 2 x 2 blocks.
const COARSE: Design = Design::Lora(LoraConfig { rank: 4, alpha: 4.0, offset_resolution: Some(8) });

#[test]
fn block_means_of_noise_are_noise() {
    let dev = Device::flex();
    let z = noise_tensor(&[1, 2], 64, &dev);
    let pooled = block_noise(z.clone(), 16);
    assert_eq!(pooled.dims(), [2, 3, 16, 16]);
    let var: f32 = pooled.clone().powi_scalar(2).mean().into_scalar();
    assert!((var - 1.0).abs() < 0.1, "block means times the block's side: variance {var}");
    // a block's mean, repeated, is the block's projection: applying it twice changes nothing
    let file = generator_file();
    let (a, _) = Adapted::fresh(&file, Role::NoiseHypernetwork, COARSE, &dev).unwrap();
    let z16 = noise_tensor(&[3], 16, &dev);
    let p = a.expressible(z16.clone());
    assert!(max_diff(a.expressible(p.clone()), p.clone()) < 1e-6);
    assert!(max_diff(block_means(z16.clone(), 8), p.clone()) == 0.0, "the projection is the block means");
    let block_sums = |x: Tensor<4>| block_noise(x, 8);
    assert!(max_diff(block_sums(p.clone()), block_sums(z16.clone())) < 1e-5, "each block keeps its mean");
    assert!(max_diff(p, z16) > 0.5, "the noise itself varies within blocks");
}

#[test]
fn a_coarse_hypernetwork_changes_the_noise_block_by_block_and_folds_like_the_full_one() {
    let file = generator_file();
    let dev = Device::flex();
    let (fresh, config) = Adapted::fresh(&file, Role::NoiseHypernetwork, COARSE, &dev).unwrap();
    assert_eq!(config.design.offset_resolution(), Some(8));
    let (z, tokens) = inputs(3);
    assert_eq!(max_diff(fresh.offset(z.clone(), tokens.clone()), z.zeros_like()), 0.0, "f = 0 at init");
    let (a, config, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, COARSE);
    let f = a.offset(z.clone(), tokens.clone());
    assert_eq!(f.dims(), z.dims());
    assert!(f.clone().abs().max().into_scalar::<f32>() > 1e-3, "perturbed, f != 0");
    assert!(max_diff(a.expressible(f.clone()), f.clone()) < 1e-5, "f is constant over each 2 x 2 block");
    // it reads the block means of the noise, and differs from the full-resolution network's f
    let full = Adapted { offset_resolution: None, ..a.clone() };
    assert!(max_diff(full.offset(z.clone(), tokens.clone()), f.clone()) > 1e-3);
    let (loaded, c2) = Adapted::load(&file, &bytes, &dev).unwrap();
    assert_eq!(c2, config);
    assert_eq!(max_diff(loaded.offset(z.clone(), tokens.clone()), f.clone()), 0.0);
    let (g, _) = Generator::from_bytes(&file, &dev).unwrap();
    let folded = crate::pipeline::NoiseMap::load(&file, &bytes, &dev).unwrap();
    assert!(max_diff(folded.offset(z, tokens, &g), f) < 1e-4, "folded as unfolded");
    // resolutions the noise or the U-Net cannot take, and fine-tuning, are refused
    for r in [0, 3, 5, 32] {
        let bad = weights::with_config(&bytes, |c| c["lora"]["offset_resolution"] = serde_json::json!(r));
        let e = Adapted::load(&file, &bad, &dev).err().unwrap_or_else(|| panic!("offset resolution {r} loads"));
        assert!(e.to_string().contains(&format!("offset resolution {r}")), "{r}: {e}");
    }
    let e = Adapted::fresh(&file, Role::FineTune, COARSE, &dev).err().unwrap();
    assert!(e.to_string().contains("only a noise hypernetwork"), "{e}");
}

pub(crate) const LIGHT: Design =
    Design::Light(LightConfig { grid: 4, hidden: 16, token_dim: 4, prompt: light::PromptSource::Own });
/// The same network reading the prompt through the generator's encoder.
const LIGHT_READS_GENERATOR: Design =
    Design::Light(LightConfig { grid: 4, hidden: 16, token_dim: 4, prompt: light::PromptSource::Generator });

#[test]
fn the_dct_basis_is_orthonormal() {
    let dev = Device::flex();
    let basis = light::dct_basis(16, 5, &dev);
    let gram = basis.clone().transpose().matmul(basis);
    let eye = Tensor::<2>::eye(5, &dev);
    assert!((gram - eye).abs().max().into_scalar::<f32>() < 1e-5);
}

#[test]
fn light_hypernetwork_starts_at_zero_and_changes_only_low_frequencies() {
    for design in [LIGHT, LIGHT_READS_GENERATOR] {
        light_starts_at_zero_and_changes_only_low_frequencies(design);
    }
}

fn light_starts_at_zero_and_changes_only_low_frequencies(design: Design) {
    let file = generator_file();
    let dev = Device::flex();
    let (a, config) = Adapted::fresh(&file, Role::NoiseHypernetwork, design, &dev).unwrap();
    assert_eq!(config.design, design);
    let (z, tokens) = inputs(3);
    assert_eq!(max_diff(a.offset(z.clone(), tokens.clone()), z.zeros_like()), 0.0, "{design:?}: f = 0 at init");
    let a = perturb_adapters(a);
    let f = a.offset(z.clone(), tokens.clone());
    assert!(f.clone().abs().max().into_scalar::<f32>() > 1e-3, "{design:?}: perturbed, f != 0");
    // projecting onto the lowest 4 x 4 frequencies leaves f as it is; the noise itself is not
    let p = light::dct_basis(16, 4, &dev);
    let project = |x: Tensor<4>| {
        let pp = p.clone().matmul(p.clone().transpose()).unsqueeze::<4>();
        pp.clone().matmul(x).matmul(pp)
    };
    assert!(max_diff(project(f.clone()), f.clone()) < 1e-5, "{design:?}: f lies in the low frequencies");
    assert!(max_diff(project(z.clone()), z.clone()) > 0.5, "the noise does not");
    // the prompt matters
    let (_, other_tokens) = inputs(3);
    let swapped = Tensor::cat(vec![other_tokens.clone().narrow(0, 1, 2), other_tokens.narrow(0, 0, 1)], 0);
    assert!(max_diff(a.offset(z, swapped), f) > 1e-4, "{design:?}: f depends on the prompt");
}

#[test]
fn light_files_hold_only_the_light_network_and_check_their_generator() {
    let file = generator_file();
    let dev = Device::flex();
    let (z, tokens) = inputs(2);
    for (design, own_encoder) in [(LIGHT_READS_GENERATOR, false), (LIGHT, true)] {
        let (a, config, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, design);
        let header = weights::read_header(&bytes).unwrap();
        assert!(header.tensors.keys().all(|k| k.starts_with("fc") || k.starts_with("out") || k.starts_with("prompt")));
        assert_eq!(header.tensors.keys().any(|k| k.starts_with("prompt")), own_encoder, "{design:?}");
        let (loaded, c2) = Adapted::load(&file, &bytes, &dev).unwrap();
        assert_eq!(c2, config);
        let f = a.offset(z.clone(), tokens.clone());
        assert_eq!(max_diff(loaded.offset(z.clone(), tokens.clone()), f.clone()), 0.0);
        let (light, _) = load_light(&file, &bytes, &dev).unwrap();
        assert_eq!(max_diff(light.offset(z.clone(), tokens.clone(), &loaded.model), f), 0.0);
    }
    let (_, config, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, LIGHT);
    // files from before the choice existed read their own encoder
    let unsaid = weights::with_config(&bytes, |c| {
        c["light"].as_object_mut().unwrap().remove("prompt");
    });
    assert_eq!(load_light(&file, &unsaid, &dev).unwrap().1, config);
    for e in [
        Adapted::load(&generator_file(), &bytes, &dev).err().unwrap(),
        load_light(&generator_file(), &bytes, &dev).err().unwrap(),
    ] {
        assert!(e.to_string().contains("trained on generator"), "{e}");
    }
    // LoRA files are not light ones, and nothing light fine-tunes
    let (lora, lora_config) = Adapted::fresh(&file, Role::NoiseHypernetwork, LORA, &dev).unwrap();
    let e = load_light(&file, &lora.to_bytes(&lora_config).unwrap(), &dev).err().unwrap();
    assert!(e.to_string().contains("not a light hypernetwork"), "{e}");
    let e = Adapted::fresh(&file, Role::FineTune, LIGHT, &dev).err().unwrap();
    assert!(e.to_string().contains("fine-tuning needs LoRA"), "{e}");
    let bad = weights::with_config(&bytes, |c| c["light"]["grid"] = serde_json::json!(17));
    let e = load_light(&file, &bad, &dev).err().unwrap();
    assert!(e.to_string().contains("grid 17"), "{e}");
}

/// The tiny generator's design at half its widths.
pub(crate) const COMPACT: Design = Design::Compact(CompactConfig { divisor: 2 });

#[test]
fn compact_hypernetwork_starts_at_zero_reads_the_prompt_and_loads_as_saved() {
    let file = generator_file();
    let dev = Device::flex();
    let (z, tokens) = inputs(3);
    let (fresh, _) = Adapted::fresh(&file, Role::NoiseHypernetwork, COMPACT, &dev).unwrap();
    assert_eq!(max_diff(fresh.offset(z.clone(), tokens.clone()), z.zeros_like()), 0.0, "f = 0 at init");
    let (a, config, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, COMPACT);
    let f = a.offset(z.clone(), tokens.clone());
    assert!(f.clone().abs().max().into_scalar::<f32>() > 1e-3, "perturbed, f != 0");
    let swapped = Tensor::cat(vec![tokens.clone().narrow(0, 1, 2), tokens.clone().narrow(0, 0, 1)], 0);
    assert!(max_diff(a.offset(z.clone(), swapped), f.clone()) > 1e-4, "f depends on the prompt");
    // the file holds the compact network alone: a generator of half the widths
    let network = CompactConfig { divisor: 2 }.network(&GeneratorConfig::tiny());
    assert_eq!(network.channels, [4, 8]);
    assert_eq!(weights::parameter_count(&bytes).unwrap(), Generator::new(&network, None, &dev).num_params());
    let full = weights::parameter_count(&file).unwrap();
    assert!(3 * weights::parameter_count(&bytes).unwrap() < full, "a fraction of the generator's {full}");
    let (loaded, c2) = Adapted::load(&file, &bytes, &dev).unwrap();
    assert_eq!(c2, config);
    assert_eq!(max_diff(loaded.offset(z.clone(), tokens.clone()), f.clone()), 0.0);
    let map = crate::pipeline::NoiseMap::load(&file, &bytes, &dev).unwrap();
    assert_eq!(max_diff(map.offset(z, tokens, &loaded.model), f), 0.0, "inference computes what training did");
    // another generator, fine-tuning, widths that do not build, and files of other designs
    let e = load_compact(&generator_file(), &bytes, &dev).err().unwrap();
    assert!(e.to_string().contains("trained on generator"), "{e}");
    let e = Adapted::fresh(&file, Role::FineTune, COMPACT, &dev).err().unwrap();
    assert!(e.to_string().contains("fine-tuning needs LoRA"), "{e}");
    for divisor in [0, 3, 65] {
        let bad = weights::with_config(&bytes, |c| c["compact"]["divisor"] = serde_json::json!(divisor));
        let e = load_compact(&file, &bad, &dev).err().unwrap();
        assert!(e.to_string().contains(&format!("divisor {divisor}")), "{divisor}: {e}");
    }
    let (light, light_config) = Adapted::fresh(&file, Role::NoiseHypernetwork, LIGHT, &dev).unwrap();
    let e = load_compact(&file, &light.to_bytes(&light_config).unwrap(), &dev).err().unwrap();
    assert!(e.to_string().contains("not a compact hypernetwork"), "{e}");
    let e = load_light(&file, &bytes, &dev).err().unwrap();
    assert!(e.to_string().contains("not a light hypernetwork"), "{e}");
}

#[test]
fn imitation_teaches_the_compact_network_all_of_a_teachers_offset() {
    let file = generator_file();
    let dev = Device::flex().autodiff();
    let (z, tokens) = inputs(3);
    let (teacher, _, _) = trained_adapters(&file, Role::NoiseHypernetwork, LORA);
    let target = teacher.offset(z.clone(), tokens.clone()).detach();
    let (a, _) = Adapted::fresh(&file, Role::NoiseHypernetwork, COMPACT, &dev).unwrap();
    let mut a = train_adapters_only(a);
    let gap = |a: &Adapted| imitation_terms(a, z.clone(), tokens.clone(), target.clone()).1.mean();
    // it works at the noise's resolution: at init the gap is all of the teacher's offset
    let before: f32 = gap(&a).into_scalar();
    let all: f32 = half_squared_norms(target.clone()).mean().into_scalar();
    assert!((before - all).abs() < 1e-4 * all.max(1.0), "{before} against {all}");
    // Adam: the teacher's offset (random adapters) varies in scale from run to run
    let mut optim = burn::optim::AdamConfig::new().init();
    for _ in 0..30 {
        let grads = GradientsParams::from_grads(gap(&a).backward(), &a);
        a = optim.step(1e-2, a, grads);
    }
    let after: f32 = gap(&a).into_scalar();
    assert!(after < 0.5 * before, "imitation gap {before} -> {after}");
}
