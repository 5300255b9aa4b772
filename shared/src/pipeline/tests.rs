use super::*;
use crate::hypernet::tests::{generator_file, perturb_adapters, trained_adapters, LIGHT, LORA};

const PROMPTS: [&str; 3] = ["a red circle", "two blue squares", "a green star above a red triangle"];
const SEEDS: [u64; 3] = [0, 1, 2];

fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// Trained-looking LoRA adapters of `role` on `generator`: the unfolded model and its file.
fn adapters(generator: &[u8], role: Role) -> (Adapted, Vec<u8>) {
    let (a, _, bytes) = trained_adapters(generator, role, LORA);
    (a, bytes)
}

#[test]
fn each_method_draws_what_its_unfolded_model_draws() {
    let file = generator_file();
    let dev = Device::flex();
    let (hyper, hyper_bytes) = adapters(&file, Role::NoiseHypernetwork);
    let (tuned, tuned_bytes) = adapters(&file, Role::FineTune);
    let pipeline = Pipeline::load(&file, &[&hyper_bytes, &tuned_bytes], &dev).unwrap();
    assert_eq!(pipeline.methods(), [Method::Base, Method::Hypernoise, Method::Finetune]);
    let inputs = pipeline.inputs(&PROMPTS, &SEEDS).unwrap();
    let (z, tokens) = (inputs.noise.clone(), inputs.tokens.clone());

    let (g, _) = Generator::from_bytes(&file, &dev).unwrap();
    let base = pipeline.images(Method::Base, &inputs, 1.0).unwrap();
    assert_eq!(max_diff(base.clone(), g.one_step(z.clone(), g.encode(tokens.clone()))), 0.0);
    for (method, unfolded) in [(Method::Hypernoise, &hyper), (Method::Finetune, &tuned)] {
        let role = method.role().unwrap();
        let exact = unfolded.generate(role, z.clone(), tokens.clone(), 1.0, Sampler::OneStep);
        let folded = pipeline.images(method, &inputs, 1.0).unwrap();
        assert!(max_diff(folded.clone(), base.clone()) > 1e-2, "{method:?}: the adapters change the image");
        assert!(max_diff(folded, exact) < 1e-4, "{method:?}: folded and unfolded agree");
        let check = pipeline.check_fold(method, unfolded, unfolded, &dev, &inputs).unwrap();
        assert!(check.folded < 1e-4 && check.unfolded == 0.0 && check.passed(), "{method:?}: {check:?}");
        // the check tells other adapters apart
        let other = perturb_adapters(unfolded.clone());
        let check = pipeline.check_fold(method, &other, &other, &dev, &inputs).unwrap();
        assert!(!check.passed(), "{method:?}: other adapters pass: {check:?}");
    }
    // a device that rounds more may fold with as much rounding again, but no more
    let rounding = |folded, unfolded| FoldCheck { folded, unfolded }.passed();
    assert!(rounding(0.009, 0.001) && rounding(0.03, 0.02) && !rounding(0.05, 0.02) && !rounding(0.15, 0.001));
    let modulated = pipeline.modulate(&inputs, 0.5).unwrap();
    assert!(max_diff(modulated, hyper.modulate(z.clone(), tokens, 0.5)) < 1e-5, "z + s f");
    // strength 0 is the base image
    assert_eq!(max_diff(pipeline.images(Method::Hypernoise, &inputs, 0.0).unwrap(), base), 0.0);
}

/// Two passes move the noise twice, the second from where the first left it, and cost a second
/// network pass where f is the full generator's; the fold check still compares one pass.
#[test]
fn two_passes_apply_the_hypernetwork_to_the_noise_it_moved() {
    let file = generator_file();
    let dev = Device::flex();
    let (hyper, hyper_bytes) = adapters(&file, Role::NoiseHypernetwork);
    let once = Pipeline::load(&file, &[&hyper_bytes], &dev).unwrap();
    let twice = once.clone().with_passes(2).unwrap();
    let inputs = once.inputs(&PROMPTS, &SEEDS).unwrap();
    let (z, tokens) = (inputs.noise.clone(), inputs.tokens.clone());
    let z1 = hyper.modulate(z, tokens.clone(), 0.7);
    let z2 = hyper.modulate(z1.clone(), tokens, 0.7);
    assert!(max_diff(once.modulate(&inputs, 0.7).unwrap(), z1.clone()) < 1e-5, "one pass: z + s f(z)");
    assert!(max_diff(twice.modulate(&inputs, 0.7).unwrap(), z2.clone()) < 1e-5, "two: z1 + s f(z1)");
    assert!(max_diff(z2, z1) > 1e-3, "the second pass moves the noise again");
    assert_eq!((once.nfe(Method::Hypernoise), twice.nfe(Method::Hypernoise), twice.nfe(Method::Base)), (2, 3, 1));
    let check = twice.check_fold(Method::Hypernoise, &hyper, &hyper, &dev, &inputs).unwrap();
    assert!(check.passed(), "{check:?}");
    for passes in [0, 5] {
        let e = once.clone().with_passes(passes).err().unwrap();
        assert!(matches!(e, PipelineError::Passes(p) if p == passes), "{passes}: {e}");
    }
}

#[test]
fn drawing_in_batches_gives_the_images_of_one_batch() {
    let file = generator_file();
    let (_, hyper_bytes) = adapters(&file, Role::NoiseHypernetwork);
    let pipeline = Pipeline::load(&file, &[&hyper_bytes], &Device::flex()).unwrap();
    let mut done = Vec::new();
    let batched = pipeline.draw(Method::Hypernoise, 1.0, &PROMPTS, &SEEDS, 2, |n| done.push(n)).unwrap();
    assert_eq!(done, [2, 1]);
    let whole = pipeline.draw(Method::Hypernoise, 1.0, &PROMPTS, &SEEDS, 3, |_| {}).unwrap();
    assert_eq!(batched, whole);
    let base = pipeline.draw(Method::Base, 1.0, &PROMPTS, &SEEDS, 3, |_| {}).unwrap();
    assert_ne!(base, whole, "the hypernetwork changes the images");
}

#[test]
fn what_cannot_be_served_is_refused() {
    let file = generator_file();
    let dev = Device::flex();
    let (_, hyper_bytes) = adapters(&file, Role::NoiseHypernetwork);
    let pipeline = Pipeline::load(&file, &[&hyper_bytes], &dev).unwrap();
    let inputs = pipeline.inputs(&PROMPTS[..1], &SEEDS[..1]).unwrap();
    for strength in [f32::NAN, f32::INFINITY, -0.5, 2.5, 1e30] {
        let e = pipeline.images(Method::Hypernoise, &inputs, strength).unwrap_err();
        assert!(matches!(e, PipelineError::Strength(_)), "{strength}: {e}");
    }
    let e = pipeline.images(Method::Finetune, &inputs, 1.0).unwrap_err();
    assert!(e.to_string().contains("finetune needs FineTune adapters"), "{e}");
    let flow = pipeline.clone().with_sampler(Sampler::Flow { steps: 2, guidance: 1.0, shift: 1.0 });
    assert!(flow.images(Method::Hypernoise, &inputs, 1.0).is_ok(), "the hypernetwork runs before any sampler");

    let e = Pipeline::load(&file, &[&hyper_bytes, &hyper_bytes], &dev).err().unwrap();
    assert!(matches!(e, PipelineError::TwoOfOneRole(Role::NoiseHypernetwork)), "{e}");
    let e = Pipeline::load(&generator_file(), &[&hyper_bytes], &dev).err().unwrap();
    assert!(e.to_string().contains("trained on generator"), "{e}");
    let e = Pipeline::load(&hyper_bytes, &[], &dev).err().unwrap();
    assert!(matches!(e, PipelineError::Weights(WeightsError::WrongKind { .. })), "{e}");

    let e = pipeline.inputs(&["a red circle", "a blue star"], &[1]).unwrap_err();
    assert!(matches!(e, PipelineError::Unpaired(2, 1)), "{e}");
    let e = pipeline.inputs(&["a red hexagon"], &[1]).unwrap_err();
    assert!(e.to_string().contains("unknown word 'hexagon'"), "{e}");
    let e = pipeline.inputs(&["a red circle above"], &[1]).unwrap_err();
    assert!(matches!(e, PipelineError::Prompt(PromptError::Grammar(_))), "{e}");
}

#[test]
fn non_finite_pixels_are_an_error_not_a_black_image() {
    let dev = Device::flex();
    let mut data = vec![0.5f32; 2 * 3 * 4 * 4];
    let fine = Tensor::<4>::from_data(TensorData::new(data.clone(), [2, 3, 4, 4]), &dev);
    assert_eq!(finite_images(fine, Method::Base).unwrap().len(), 2);
    data[40] = f32::NAN;
    let broken = Tensor::<4>::from_data(TensorData::new(data, [2, 3, 4, 4]), &dev);
    let e = finite_images(broken, Method::Hypernoise).unwrap_err();
    assert!(e.to_string().contains("hypernoise produced non-finite pixels"), "{e}");
}

#[test]
fn the_light_hypernetwork_draws_what_its_trained_model_draws_and_is_added_once() {
    let file = generator_file();
    let dev = Device::flex();
    let (light, _, bytes) = trained_adapters(&file, Role::NoiseHypernetwork, LIGHT);
    let (g, config) = Generator::from_bytes(&file, &dev).unwrap();
    let mut pipeline = Pipeline::from_generator(g, config, &dev);
    assert_eq!(pipeline.methods(), [Method::Base]);
    assert_eq!(pipeline.add(&file, &bytes).unwrap(), Method::Hypernoise);
    let inputs = pipeline.inputs(&PROMPTS, &SEEDS).unwrap();
    let exact =
        light.generate(Role::NoiseHypernetwork, inputs.noise.clone(), inputs.tokens.clone(), 1.0, Sampler::OneStep);
    assert_eq!(max_diff(pipeline.images(Method::Hypernoise, &inputs, 1.0).unwrap(), exact), 0.0);
    let check = pipeline.check_fold(Method::Hypernoise, &light, &light, &dev, &inputs).unwrap();
    assert!(check.passed(), "{check:?}");
    assert!(matches!(pipeline.add(&file, &bytes), Err(PipelineError::TwoOfOneRole(Role::NoiseHypernetwork))));
}
