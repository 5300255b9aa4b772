use super::*;
use crate::generator::layers::{is_adapter_path, map_params, train_adapters_only, AdapterAwareMap};
use crate::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use crate::generator::tests::randomised;
use crate::reward::analytic::redness;
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};

type B = Flex;
type AB = Autodiff<Flex>;
const LORA: LoraConfig = LoraConfig { rank: 4, alpha: 4.0 };

fn generator_file() -> Vec<u8> {
    let c = GeneratorConfig::tiny();
    randomised::<B>(&c).to_bytes(&c).unwrap()
}

fn inputs<B: Backend>(n: usize) -> (Tensor<B, 4>, Tensor<B, 2, Int>) {
    let dev = Default::default();
    let prompts = ["a red circle", "two blue squares", "a green star above a red triangle"];
    let ids = encode_prompts(&prompts[..n]).unwrap();
    (noise_tensor::<B>(&(0..n as u64).collect::<Vec<_>>(), 16, &dev), tokens_tensor::<B>(&ids, &dev))
}

fn max_diff(a: Tensor<B, 4>, b: Tensor<B, 4>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// Moves every adapter parameter, as training would.
fn perturb_adapters<B: Backend>(m: Adapted<B>) -> Adapted<B> {
    struct Shift;
    impl<B: Backend> AdapterAwareMap<B> for Shift {
        fn map<const D: usize>(
            &mut self,
            adapter: bool,
            p: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            p.map(|t| if adapter { t.clone() + t.random_like(burn::tensor::Distribution::Normal(0.0, 0.1)) } else { t })
        }
    }
    map_params(m, Shift)
}

#[test]
fn fresh_adapters_change_nothing() {
    let file = generator_file();
    let dev = Default::default();
    let (g, _) = Generator::<B>::from_bytes(&file, &dev).unwrap();
    let (z, tokens) = inputs::<B>(3);
    let base = g.one_step(z.clone(), g.encode(tokens.clone()));
    for role in [Role::NoiseHypernetwork, Role::FineTune] {
        let (a, config) = Adapted::<B>::fresh(&file, role, LORA, &dev).unwrap();
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
    let dev = Default::default();
    let (a, config) = Adapted::<B>::fresh(&file, Role::NoiseHypernetwork, LORA, &dev).unwrap();
    let a = perturb_adapters(a);
    let bytes = a.to_bytes(&config).unwrap();
    let header = weights::read_header(&bytes).unwrap();
    assert!(
        !header.tensors.is_empty() && header.tensors.keys().all(|k| is_adapter_path(k)),
        "{:?}",
        header.tensors.keys()
    );
    assert!(bytes.len() < file.len(), "adapters file {} bytes, generator {}", bytes.len(), file.len());

    let (loaded, c2) = Adapted::<B>::load(&file, &bytes, &dev).unwrap();
    assert_eq!(c2, config);
    let (z, tokens) = inputs::<B>(2);
    let f = a.model.noise_offset(z.clone(), tokens.clone());
    assert!(f.clone().abs().max().into_scalar() > 1e-3, "perturbed adapters give f != 0");
    assert_eq!(max_diff(loaded.model.noise_offset(z.clone(), tokens.clone()), f), 0.0);
    // strength scales f: 0 is the plain generator
    assert_eq!(max_diff(a.modulate(z.clone(), tokens.clone(), 0.0), z.clone()), 0.0);

    let other = generator_file(); // another random generator of the same shape
    let e = Adapted::<B>::load(&other, &bytes, &dev).err().unwrap();
    assert!(e.to_string().contains("trained on generator"), "{e}");
    assert!(matches!(Generator::<B>::from_bytes(&bytes, &dev).err().unwrap(), WeightsError::WrongKind { .. }));
    assert!(matches!(
        Adapted::<B>::load(&file, &bytes[..bytes.len() - 10], &dev).err().unwrap(),
        WeightsError::Truncated(_)
    ));
}

#[test]
fn only_adapters_train_and_the_objective_raises_the_reward() {
    let file = generator_file();
    let dev = Default::default();
    let (a, _) =
        Adapted::<AB>::fresh(&file, Role::NoiseHypernetwork, LoraConfig { rank: 8, alpha: 8.0 }, &dev).unwrap();
    let mut a = train_adapters_only(a);
    let mut optim = SgdConfig::new().init();
    let (z, tokens) = inputs::<AB>(3);
    let terms = |a: &Adapted<AB>| {
        objective_terms(a, Role::NoiseHypernetwork, Sampler::OneStep, z.clone(), tokens.clone(), |x, _| redness(x))
    };
    let reward_before = terms(&a).1.mean().into_scalar();
    for _ in 0..20 {
        let (reg, reward) = terms(&a);
        let loss = (reg * 1e-3 - reward).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &a);
        a = optim.step(0.05, a, grads);
    }
    let (reg, reward) = terms(&a);
    let reward_after = reward.mean().into_scalar();
    assert!(reward_after > reward_before + 0.01, "redness {reward_before} -> {reward_after}");
    assert!(reg.mean().into_scalar() > 0.0, "f moved the noise");
    // the generator itself is untouched: adapters off, it is the file's generator
    let after = a.model.valid();
    let (plain, _) = Generator::<B>::from_bytes(&file, &dev).unwrap();
    let (zb, tb) = inputs::<B>(3);
    let x0 = plain.one_step(zb.clone(), plain.encode(tb.clone()));
    let x1 = after.one_step(zb, after.encode(tb));
    assert_eq!(max_diff(x0, x1), 0.0, "adapters off = the frozen generator");
}

#[test]
fn merged_adapters_compute_what_the_adapted_passes_do() {
    let file = generator_file();
    let dev = Default::default();
    let (z, tokens) = inputs::<B>(3);
    for role in [Role::NoiseHypernetwork, Role::FineTune] {
        let (a, config) = Adapted::<B>::fresh(&file, role, LORA, &dev).unwrap();
        let a = perturb_adapters(a);
        let (merged, _) = Merged::<B>::from_bytes(&file, &a.to_bytes(&config).unwrap(), &dev).unwrap();
        let adapted = a.generate(role, z.clone(), tokens.clone(), 1.0, Sampler::OneStep);
        let base = a.model.one_step(z.clone(), a.model.encode(tokens.clone()));
        assert!(max_diff(adapted, base) > 1e-2, "{role:?}: the adapters change the image");
        let check = merged.check(&a, &a, &dev, z.clone(), tokens.clone());
        assert!(check.folded < 1e-4 && check.unfolded == 0.0 && check.passed(), "{role:?}: {check:?}");
        // the check `trainer eval` makes of a fold tells other adapters apart
        let other = perturb_adapters(a);
        let check = merged.check(&other, &other, &dev, z.clone(), tokens.clone());
        assert!(!check.passed(), "{role:?}: other adapters pass: {check:?}");
    }
    let (a, config) = Adapted::<B>::fresh(&file, Role::NoiseHypernetwork, LORA, &dev).unwrap();
    let a = perturb_adapters(a);
    let (merged, _) = Merged::<B>::from_bytes(&file, &a.to_bytes(&config).unwrap(), &dev).unwrap();
    let diff = max_diff(merged.modulate(z.clone(), tokens.clone(), 0.5), a.modulate(z, tokens, 0.5));
    assert!(diff < 1e-5, "z + s f: merged differs by {diff}");
}
