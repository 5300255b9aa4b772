//! Training as a user runs it, on the CPU with the tiny preset: resumable after a kill,
//! exact on resume, guarded against NaNs, and producing weights the other commands load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().expect("trainer runs")
}

fn ok(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    text
}

fn fresh(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hypernoise-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The JSON file at `path` (metrics, accuracy, tables), which the test expects to be there.
fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A safetensors file's tensors by name (its metadata is an unordered map, so bytes may differ).
fn tensors(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.data().to_vec()))
        .collect()
}

fn teach_args<'a>(out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "--device",
        "cpu",
        "teach",
        "--preset",
        "tiny",
        "--batch",
        "4",
        "--steps",
        steps,
        "--warmup",
        "2",
        "--out",
        out,
        "--log-every",
        "1",
        "--checkpoint-every",
        "2",
        "--sample-steps",
        "2",
    ]
}

/// A tiny teacher run into `out` continuing the teacher `init`.
fn continue_args<'a>(out: &'a Path, steps: &'a str, init: &'a Path) -> Vec<&'a str> {
    let mut args = teach_args(out.to_str().unwrap(), steps);
    args.extend(["--init", init.to_str().unwrap()]);
    args
}

fn tiny_teacher(dir: &Path) -> PathBuf {
    tiny_teacher_seeded(dir, "0")
}

#[test]
fn teach_writes_weights_curves_and_samples_and_resumes_exactly() {
    let straight = fresh("straight");
    let weights = tiny_teacher(&straight);
    for f in ["loss.csv", "loss.png", "samples.png", "checkpoint/state.json"] {
        assert!(straight.join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(straight.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");

    // the same run, paused by its time budget after the first step, then resumed
    let paused = fresh("paused");
    let out = paused.to_str().unwrap();
    let mut args = teach_args(out, "4");
    args.extend(["--max-minutes", "0"]);
    let text = ok(&trainer(&args));
    assert!(text.contains("time budget reached at step 1/4"), "{text}");
    assert!(!paused.join("teacher.safetensors").exists());
    let text = ok(&trainer(&teach_args(out, "4")));
    assert!(text.contains("resuming from step 1"), "{text}");
    assert!(
        tensors(&paused.join("teacher.safetensors")) == tensors(&weights),
        "resume must reproduce the uninterrupted run"
    );

    // other settings on resume are refused, naming the folder
    let mut args = teach_args(out, "4");
    args.extend(["--lr", "0.1"]);
    let o = trainer(&args);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("checkpoint made with other settings"));
}

#[test]
fn teach_init_continues_a_teacher_of_the_same_design_only() {
    let dir = fresh("teach-init");
    let first = tiny_teacher(&dir.join("first"));
    // zero steps: the starting weights come out, the given teacher's and not fresh ones
    let out = dir.join("continued");
    ok(&trainer(&continue_args(&out, "0", &first)));
    assert!(tensors(&out.join("teacher.safetensors")) == tensors(&first));
    // a teacher of the pooled design does not continue as a token-conditioned one
    let pooled = dir.join("pooled");
    let pooled_file = dir.join("pooled.safetensors");
    std::fs::write(&pooled_file, tiny_pooled_generator()).unwrap();
    let o = trainer(&continue_args(&pooled, "0", &pooled_file));
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("another architecture"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_reading_loss_moves_the_teacher_and_stays_out_of_its_file() {
    let dir = fresh("reading");
    let plain = tiny_teacher(&dir.join("plain"));
    let read =
        tiny_teacher_with(&dir.join("reading"), &["--reading-weight", "0.5", "--mix", "position=1,color_attr=1"]);
    let (read, plain) = (tensors(&read), tensors(&plain));
    assert!(read.keys().eq(plain.keys()), "the same tensors as a plain teacher: the reading head is not written");
    assert!(read != plain, "the reading loss and the mix change what the teacher learns");
    for (flags, says) in [
        (["--preset", "pooled", "--reading-weight", "0.5"], "need a token-conditioned preset"),
        (["--preset", "tiny", "--reading-weight", "NaN"], "must be 0 or more"),
        (["--preset", "tiny", "--mix", "single_object=1"], "no training prompts"),
    ] {
        teach_refuses(&dir, &[&flags[..], &["--steps", "1"]].concat(), says);
    }
}

#[test]
fn shifted_training_times_change_what_the_teacher_learns_and_absurd_shifts_are_refused() {
    let dir = fresh("time-shift");
    let plain = tiny_teacher(&dir.join("plain"));
    let shifted = tiny_teacher_with(&dir.join("shifted"), &["--seed", "0", "--time-shift", "3"]);
    assert!(tensors(&shifted) != tensors(&plain), "the same batches at other times");
    for shift in ["0.5", "NaN", "11"] {
        teach_refuses(
            &dir,
            &["--preset", "tiny", "--steps", "1", "--time-shift", shift],
            "a number from 1 (no shift) to 10",
        );
    }
    let weights = plain.to_str().unwrap();
    let o = trainer(&["--device", "cpu", "evaluate", "--weights", weights, "--sampler", "flow", "--shift", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("a number from 1 (no shift) to 10"), "{err}");
}

/// `trainer teach` with `flags` fails and says `says`.
fn teach_refuses(dir: &Path, flags: &[&str], says: &str) {
    let out = dir.join("refused");
    let mut args: Vec<&str> = vec!["--device", "cpu", "teach", "--out", out.to_str().unwrap()];
    args.extend(flags);
    let o = trainer(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(says), "{flags:?}: {err}");
}

#[test]
fn reading_first_trains_the_prompt_transformer_and_leaves_the_unet_alone() {
    let dir = fresh("read-first");
    let start = tiny_teacher(&dir.join("start"));
    // paused after the first step, which is a reading step
    let out = dir.join("read");
    let mut args = continue_args(&out, "4", &start);
    args.extend(["--read-first", "2", "--max-minutes", "0"]);
    ok(&trainer(&args));
    let (read, start) = (tensors(&out.join("checkpoint/weights.safetensors")), tensors(&start));
    let unet = |t: &std::collections::BTreeMap<String, Vec<u8>>| {
        t.iter().filter(|(k, _)| k.starts_with("unet.")).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    assert!(unet(&read) == unet(&start), "a reading step reaches no U-Net weight");
    assert!(
        read.iter().any(|(k, v)| k.starts_with("prompt.") && start[k] != *v),
        "a reading step moves the prompt transformer"
    );
    for (flags, says) in [
        (["--preset", "pooled", "--read-first", "2", "--steps", "4"], "need a token-conditioned preset"),
        (["--preset", "tiny", "--read-first", "4", "--steps", "4"], "leaves none of the --steps 4"),
    ] {
        teach_refuses(&dir, &flags, says);
    }
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let dir = fresh("killed");
    let out = dir.to_str().unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_trainer")).args(teach_args(out, "400")).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !dir.join("checkpoint/state.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(120), "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut args = teach_args(out, "400");
    args.extend(["--max-minutes", "0"]);
    let text = ok(&trainer(&args));
    let resumed: usize = text
        .split("resuming from step ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect(&text);
    assert!(resumed >= 2 && resumed.is_multiple_of(2), "{text}");
}

#[test]
fn a_diverging_run_stops_and_says_where() {
    let dir = fresh("nan");
    let out = dir.to_str().unwrap();
    let mut args = teach_args(out, "6");
    args.extend(["--lr", "1e30"]);
    let o = trainer(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("the loss became") && err.contains("between steps"), "{err}");
    assert!(!dir.join("teacher.safetensors").exists());
}

#[test]
fn distil_then_sample_and_evaluate() {
    let dir = fresh("distil");
    let teacher = tiny_teacher(&dir.join("teacher"));
    let student_dir = dir.join("student");
    ok(&trainer(&[
        "--device",
        "cpu",
        "distill",
        "--teacher",
        teacher.to_str().unwrap(),
        "--out",
        student_dir.to_str().unwrap(),
        "--pairs",
        "16",
        "--ode-steps",
        "2",
        "--steps",
        "3",
        "--batch",
        "4",
        "--warmup",
        "1",
        "--pair-batch",
        "8",
    ]));
    let student = student_dir.join("generator.safetensors");
    assert!(student.exists() && student_dir.join("samples.png").exists());

    // --init continues that student, not the teacher (0 steps: the starting weights come out)
    let again = |init: &Path, out: &str, steps: &str, extra: &[&str]| {
        let mut args = vec![
            "--device",
            "cpu",
            "distill",
            "--teacher",
            teacher.to_str().unwrap(),
            "--seed",
            "2",
            "--pairs",
            "8",
            "--ode-steps",
            "2",
            "--batch",
            "4",
            "--warmup",
            "1",
            "--pair-batch",
            "8",
        ];
        let out = dir.join(out);
        args.extend(["--init", init.to_str().unwrap(), "--out", out.to_str().unwrap(), "--steps", steps]);
        args.extend(extra);
        trainer(&args)
    };
    ok(&again(&student, "again", "0", &[]));
    let continued = tensors(&dir.join("again/generator.safetensors"));
    assert!(continued == tensors(&student) && continued != tensors(&teacher));
    let o = again(&dir.join("missing.safetensors"), "missing", "0", &[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("missing.safetensors"));
    // pairs drawn from position prompts alone teach another student than the uniform mix's
    ok(&again(&student, "uniform", "1", &[]));
    ok(&again(&student, "positions", "1", &["--mix", "position=1"]));
    let student_of = |out: &str| tensors(&dir.join(out).join("generator.safetensors"));
    assert!(student_of("uniform") != student_of("positions"));
    let o = again(&student, "refused", "1", &["--mix", "single_object=1"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no training prompts"));
    // a teacher of a few steps is rarely right: --only-correct gives up after 8 images per pair
    // asked for, says how often it was right, and starts no run
    let o = again(&student, "only-correct", "1", &["--only-correct"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("of the teacher's 64 images") && err.contains("position"), "{err}");
    assert!(!dir.join("only-correct").exists());

    let png = dir.join("x.png");
    let text = ok(&trainer(&[
        "--device",
        "cpu",
        "sample",
        "--weights",
        student.to_str().unwrap(),
        "--prompt",
        "three green triangles",
        "--seed",
        "3",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(text.contains("evaluator:") && png.exists(), "{text}");

    for (cmd, extra) in [("reno", ["--iterations", "3"]), ("best-of-n", ["--n", "5"])] {
        let png = dir.join(format!("{cmd}.png"));
        let mut args = vec![
            "--device",
            "cpu",
            cmd,
            "--weights",
            student.to_str().unwrap(),
            "--prompt",
            "a red star",
            "--seed",
            "2",
            "--out",
            png.to_str().unwrap(),
        ];
        args.extend(extra);
        let text = ok(&trainer(&args));
        assert!(png.exists() && text.contains("reward"), "{text}");
    }
    let reno_log = ok(&trainer(&[
        "--device",
        "cpu",
        "reno",
        "--weights",
        student.to_str().unwrap(),
        "--prompt",
        "a red star",
        "--iterations",
        "2",
        "--out",
        dir.join("r.png").to_str().unwrap(),
    ]));
    assert_eq!(reno_log.matches("reno iteration").count(), 3, "{reno_log}");

    let json = dir.join("eval.json");
    ok(&trainer(&[
        "--device",
        "cpu",
        "evaluate",
        "--weights",
        student.to_str().unwrap(),
        "--every",
        "100",
        "--json",
        json.to_str().unwrap(),
    ]));
    let v = read_json(json);
    assert_eq!(v["nfe"], 1);
    assert!(v["scores"]["mean"].as_f64().unwrap() >= 0.0 && v["images"].as_u64().unwrap() >= 20);
}

/// `quantise` refits a generator for its few-bit copy: the copy's images come closer to the
/// generator's own as it trains (rounding every third step, the steps between reusing the last
/// rounding), the copy it writes is the refit weights as `export-web` quantises them, and a bit
/// width the files cannot store is refused.
#[test]
fn quantise_brings_the_few_bit_copy_back_to_the_generators_images() {
    let dir = fresh("quantise");
    let teacher = tiny_teacher(&dir.join("teacher"));
    let out = dir.join("refit");
    let run = |bits: &str| {
        trainer(&[
            "--device",
            "cpu",
            "quantise",
            "--generator",
            teacher.to_str().unwrap(),
            "--bits",
            bits,
            "--steps",
            "40",
            "--batch",
            "4",
            "--lr",
            "1e-3",
            "--warmup",
            "1",
            "--round-every",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--log-every",
            "1",
            "--checkpoint-every",
            "100",
        ])
    };
    let refused = run("9");
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("from 2 to 8 bits"));
    ok(&run("2"));
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    let losses: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, last) = (mean(&losses[..5]), mean(&losses[losses.len() - 5..]));
    assert!(losses.len() == 40 && last < first / 2.0, "the copy's image error went from {first} to {last}");
    let refit = std::fs::read(out.join("generator.safetensors")).unwrap();
    let copy = std::fs::read(out.join("generator-q2.safetensors")).unwrap();
    assert!(copy == hypernoise::weights::quantize(&refit, 2).unwrap());
    assert!(refit != std::fs::read(&teacher).unwrap());
}

#[test]
fn bad_weights_are_clear_errors() {
    let dir = fresh("badweights");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
    let o = trainer(&[
        "--device",
        "cpu",
        "sample",
        "--weights",
        bad.to_str().unwrap(),
        "--prompt",
        "a circle",
        "--out",
        dir.join("x.png").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.safetensors") && err.contains("header is not JSON"), "{err}");
    let o = trainer(&[
        "--device",
        "cpu",
        "sample",
        "--weights",
        dir.join("none").to_str().unwrap(),
        "--prompt",
        "a circle",
        "--out",
        "x.png",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read weights"));
    let o = trainer(&["--device", "cpu", "sample", "--prompt", "a circle of dogs", "--out", "x.png"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown word 'dogs'"));
}

#[test]
fn reward_trains_on_preference_pairs() {
    let dir = fresh("reward");
    let out = dir.to_str().unwrap();
    let text = ok(&trainer(&[
        "--device",
        "cpu",
        "reward",
        "--preset",
        "tiny",
        "--steps",
        "4",
        "--batch",
        "8",
        "--warmup",
        "1",
        "--out",
        out,
        "--val-pairs",
        "64",
    ]));
    assert!(text.contains("validation pairs ordered correctly"), "{text}");
    let acc = read_json(dir.join("accuracy.json"));
    let all = acc["all"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&all) && acc.as_object().unwrap().len() >= 4, "{acc}");
    assert!(dir.join("reward.safetensors").exists() && dir.join("loss.png").exists());
    assert!(acc["missing"].as_f64().is_some(), "validation scores every kind of negative: {acc}");

    // --init continues a trained reward: at learning rate 0 it comes out as it went in, and a
    // reward of another preset is refused by name
    let trained = dir.join("reward.safetensors");
    let cont = fresh("reward-init");
    let init_args = |init: &Path| {
        let args = [
            "--device",
            "cpu",
            "reward",
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--batch",
            "4",
            "--warmup",
            "1",
            "--lr",
            "0",
            "--val-pairs",
            "16",
        ];
        trainer(&[&args[..], &["--out", cont.to_str().unwrap(), "--init", init.to_str().unwrap()]].concat())
    };
    ok(&init_args(&trained));
    assert_eq!(tensors(&cont.join("reward.safetensors")), tensors(&trained));
    std::fs::remove_dir_all(&cont).unwrap();
    let standard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/reward.safetensors");
    let err = String::from_utf8_lossy(&init_args(&standard).stderr).to_string();
    assert!(err.contains("is not a Tiny-preset reward") && err.contains("reward.safetensors"), "{err}");
    // a reward that reads another image size than the generator makes is refused by name
    let o = trainer(&[
        "--device",
        "cpu",
        "reno",
        "--prompt",
        "a red star",
        "--reward",
        trained.to_str().unwrap(),
        "--out",
        dir.join("x.png").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success()
            && err.contains("reads 16 px images; these are 64 px")
            && err.contains("reward.safetensors"),
        "{err}"
    );

    // pairs of the generator's own images judged by the exact evaluator (one-step images and
    // ReNO's): validation scores them as a kind of their own; a generator whose images are
    // another size is refused by name, and one whose every image the evaluator rejects (the
    // barely trained tiny teacher) is refused with the pool's tally
    let shipped_generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/generator.safetensors");
    let shipped_reward = shipped_generator.with_file_name("reward.safetensors");
    let judged = |generator: &Path, out: &Path, more: &[&str]| {
        let args = [
            "--device",
            "cpu",
            "reward",
            "--steps",
            "2",
            "--batch",
            "8",
            "--warmup",
            "1",
            "--val-pairs",
            "32",
            "--generated-prompts",
            "8",
            "--generated-seeds",
            "2",
        ];
        trainer(
            &[
                &args[..],
                &[
                    "--out",
                    out.to_str().unwrap(),
                    "--generated",
                    generator.to_str().unwrap(),
                    "--generated-share",
                    "0.5",
                ],
                more,
            ]
            .concat(),
        )
    };
    let with_g = fresh("reward-judged");
    let o = judged(
        &shipped_generator,
        &with_g,
        &["--generated-reno", shipped_reward.to_str().unwrap(), "--reno-iterations", "2"],
    );
    let log = String::from_utf8_lossy(&o.stderr).to_string();
    ok(&o);
    assert!(
        log.contains("judged pairs: train pool") && log.contains("judged pairs: val pool") && log.contains("ReNO"),
        "{log}"
    );
    let acc = read_json(with_g.join("accuracy.json"));
    let share = acc["judged"].as_f64().unwrap_or_else(|| panic!("no judged pairs scored: {acc}"));
    assert!((0.0..=1.0).contains(&share) && acc["count"].as_f64().is_some(), "{acc}");
    let err =
        String::from_utf8_lossy(&judged(&shipped_generator, &fresh("reward-judged-64"), &["--preset", "tiny"]).stderr)
            .to_string();
    assert!(err.contains("makes 64 px images, the reward reads 16 px"), "{err}");
    let g = tiny_teacher(&dir.join("g"));
    let err =
        String::from_utf8_lossy(&judged(&g, &fresh("reward-judged-tiny"), &["--preset", "tiny"]).stderr).to_string();
    assert!(
        err.contains("no train prompt has both an image the exact evaluator accepts and one it rejects")
            && err.contains("accepted: one-step 0 of 16"),
        "{err}"
    );

    // adversarial training on two kinds of negative only
    let adv = fresh("reward-adv");
    ok(&trainer(&[
        "--device",
        "cpu",
        "reward",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch",
        "4",
        "--warmup",
        "1",
        "--out",
        adv.to_str().unwrap(),
        "--val-pairs",
        "16",
        "--negatives",
        "count,missing",
        "--adversarial-eps",
        "0.05",
        "--adversarial-steps",
        "2",
    ]));
    assert!(adv.join("reward.safetensors").exists());
    let o = trainer(&[
        "--device",
        "cpu",
        "reward",
        "--preset",
        "tiny",
        "--out",
        adv.to_str().unwrap(),
        "--negatives",
        "count,size",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("unknown kind of negative 'size'") && err.contains("missing"), "{err}");
}

#[test]
fn fit_finetune_resume_and_the_table() {
    let dir = fresh("fit");
    let g = tiny_teacher(&dir.join("g"));
    let g = g.to_str().unwrap();
    let fit_dir = dir.join("hyper");
    let fit = |steps: &str| {
        trainer(&[
            "--device",
            "cpu",
            "fit",
            "--generator",
            g,
            "--reward",
            "redness+0.5*redness",
            "--rank",
            "4",
            "--alpha",
            "4",
            "--out",
            fit_dir.to_str().unwrap(),
            "--steps",
            steps,
            "--batch",
            "4",
            "--warmup",
            "1",
            "--lr",
            "0.05",
            "--checkpoint-every",
            "3",
            "--val-every-item",
            "50",
        ])
    };
    ok(&fit("6"));
    let adapters = fit_dir.join("hypernoise.safetensors");
    for f in ["metrics.json", "curves.png", "compare.png", "loss.png", "best.safetensors"] {
        assert!(fit_dir.join(f).exists(), "{f}");
    }
    assert!(tensors(&adapters).keys().all(|k| k.contains(".lora.")), "only adapters are saved");
    // constant learning rate after warmup: a finished run continues with more steps
    let text = ok(&fit("8"));
    assert!(text.contains("resuming from step 6"), "{text}");
    let metrics: Vec<serde_json::Value> = serde_json::from_value(read_json(fit_dir.join("metrics.json"))).unwrap();
    assert_eq!(metrics.iter().map(|m| m["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 3, 6, 8]);
    assert!(metrics[0]["reward"].is_null(), "step 0 is the base generator, before any training step");
    assert!(metrics[1..]
        .iter()
        .all(|m| m["val_score"].as_f64().is_some() && m["regulariser"].as_f64().unwrap() >= 0.0));

    // HyperNoise on k-step generation: g = 2 guided Euler steps of the (flow) generator
    let k_dir = dir.join("k2");
    ok(&trainer(&[
        "--device",
        "cpu",
        "fit",
        "--generator",
        g,
        "--reward",
        "redness",
        "--rank",
        "4",
        "--alpha",
        "4",
        "--gen-steps",
        "2",
        "--out",
        k_dir.to_str().unwrap(),
        "--steps",
        "2",
        "--batch",
        "2",
        "--warmup",
        "1",
        "--checkpoint-every",
        "2",
        "--val-every-item",
        "100",
    ]));
    assert!(k_dir.join("hypernoise.safetensors").exists());

    let ft_dir = dir.join("ft");
    let finetune_run = |steps: &str, optimizer: &str| {
        trainer(&[
            "--device",
            "cpu",
            "finetune",
            "--generator",
            g,
            "--reward",
            "redness",
            "--rank",
            "4",
            "--alpha",
            "4",
            "--out",
            ft_dir.to_str().unwrap(),
            "--steps",
            steps,
            "--batch",
            "4",
            "--warmup",
            "1",
            "--checkpoint-every",
            "3",
            "--val-every-item",
            "50",
            "--optimizer",
            optimizer,
        ])
    };
    ok(&finetune_run("3", "adam"));
    // a checkpoint resumes with its own optimizer's state only
    let o = finetune_run("4", "sgd");
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("other settings"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(ok(&finetune_run("4", "adam")).contains("resuming from step 3"));
    let finetune = ft_dir.join("finetune.safetensors");
    let png = dir.join("both.png");
    ok(&trainer(&[
        "compare-runs",
        "--runs",
        &format!("{},{}", fit_dir.display(), ft_dir.display()),
        "--names",
        "hypernoise,finetune",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(png.exists());
    let o = trainer(&["compare-runs", "--runs", dir.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no metrics.json"));

    let results = dir.join("results");
    // the base listed second: distances are still measured against the base's images
    let text = ok(&tiny_eval(
        Path::new(g),
        &results,
        &[
            "--hypernoise",
            adapters.to_str().unwrap(),
            "--finetune",
            finetune.to_str().unwrap(),
            "--methods",
            "hypernoise,base,best-of-n,reno,finetune",
            "--best-of",
            "3",
            "--every",
            "150",
            "--reno-iterations",
            "2",
        ],
    ));
    assert!(text.contains("| hypernoise |"), "{text}");
    // samples.png: a row per method (5), the same 8 of the 15 items in every row
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(results.join("samples.png")).unwrap()));
    let (w, h) = {
        let info = dec.read_info().unwrap();
        (info.info().width, info.info().height)
    };
    assert!(w % 8 == 0 && h % 5 == 0 && w / 8 >= 2 * 16 && h / 5 > w / 8, "{w} x {h}");
    let table = read_json(results.join("eval.json"));
    for (row, nfe) in [("base", 1), ("hypernoise", 2), ("best_of_3", 3), ("reno", 3), ("finetune", 1)] {
        let r = &table["rows"][row];
        assert_eq!(r["nfe"], nfe, "{row}");
        for k in ["mean", "reward", "seconds_per_image", "diversity", "distance_to_base", "position", "color_attr"] {
            assert!(r[k].is_number(), "{row}.{k}: {r}");
        }
    }
    assert_eq!(table["rows"]["base"]["distance_to_base"], 0.0);
    // adapter rows name the weights they were made with
    for (row, file) in [("hypernoise", &adapters), ("finetune", &finetune)] {
        assert_eq!(
            table["rows"][row]["adapters"],
            hypernoise::hypernet::fingerprint(&std::fs::read(file).unwrap()),
            "{row}"
        );
    }
    assert!(table["rows"]["base"]["adapters"].is_null());
    // best-of-N includes the base noise, so its reward is never below the base's
    assert!(
        table["rows"]["best_of_3"]["reward"].as_f64().unwrap()
            >= table["rows"]["base"]["reward"].as_f64().unwrap() - 1e-6
    );

    // on the validation prompts the table reproduces fit's own scores (step 0: the base generator)
    let val = dir.join("val");
    ok(&tiny_eval(Path::new(g), &val, &["--split", "val", "--methods", "base", "--every", "50"]));
    let table = read_json(val.join("eval.json"));
    assert_eq!(table["split"], "val");
    assert_eq!(table["rows"]["base"]["mean"].as_f64(), metrics[0]["val_score"].as_f64());

    // adapters only load on the generator they were trained on, and roles are checked
    let other = tiny_teacher_seeded(&dir.join("other"), "1");
    let o = tiny_eval(
        &other,
        &results,
        &["--hypernoise", adapters.to_str().unwrap(), "--methods", "hypernoise", "--every", "150"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("trained on generator"), "{err}");
    let o = tiny_eval(
        Path::new(g),
        &results,
        &["--hypernoise", finetune.to_str().unwrap(), "--methods", "hypernoise", "--every", "150"],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("FineTune adapters"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn fit_split_over_two_devices_matches_one_device() {
    let dir = fresh("devices");
    let g = tiny_teacher(&dir.join("g"));
    let fit = |name: &str, devices: &str, steps: &str| {
        let out = dir.join(name);
        let o = tiny_fit(
            &g,
            &out,
            steps,
            &[
                "--rank",
                "4",
                "--alpha",
                "4",
                "--batch",
                "6",
                "--lr",
                "0.05",
                "--checkpoint-every",
                "3",
                "--val-every-item",
                "200",
                "--devices",
                devices,
                "--clip",
                "1e9", // no clipping, which would hide a wrongly scaled gradient
            ],
        );
        (o, out.join("checkpoint/weights.safetensors"))
    };
    // the `up` factors start at zero, so they are what the steps changed
    let floats = |path: &Path| -> Vec<f32> {
        let t = tensors(path);
        t.iter()
            .filter(|(k, _)| k.ends_with("lora.up"))
            .flat_map(|(_, b)| b.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>())
            .collect()
    };
    let relative = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        let (diff, norm) = a
            .iter()
            .zip(b)
            .fold((0.0f64, 0.0f64), |(d, n), (x, y)| (d + ((x - y) as f64).powi(2), n + (*x as f64).powi(2)));
        assert!(norm > 0.0);
        (diff / norm).sqrt()
    };
    let (o, one) = fit("x1", "1", "3");
    ok(&o);
    let (o, two) = fit("x2", "2", "3");
    assert!(ok(&o).contains("x2"), "the run names its device count");
    let (a, b) = (floats(&one), floats(&two));
    assert!(relative(&a, &b) < 1e-4, "relative difference {}", relative(&a, &b));
    // two steps on two devices, resumed for the third on one: the momentum made on two devices
    // carries over
    ok(&fit("x2r", "2", "2").0);
    let (o, resumed) = fit("x2r", "1", "3");
    assert!(ok(&o).contains("resuming from step 2"));
    let c = floats(&resumed);
    assert!(relative(&a, &c) < 1e-4, "relative difference {}", relative(&a, &c));
    let o = fit("x0", "0", "3").0;
    assert!(String::from_utf8_lossy(&o.stderr).contains("--devices must be between 1 and --batch"));
}

/// `eval` on the CPU of `generator` with the redness reward, written to `out`, with `extra` arguments.
fn tiny_eval(generator: &Path, out: &Path, extra: &[&str]) -> Output {
    let (generator, out) = (generator.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["--device", "cpu", "eval", "--generator", generator, "--reward", "redness", "--out", out];
    args.extend(extra);
    trainer(&args)
}

/// The base and HyperNoise rows of [`tiny_eval`] with `adapters`, every 100th item: eval.json.
fn hypernoise_table(generator: &Path, adapters: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let rows = ["--hypernoise", adapters.to_str().unwrap(), "--methods", "base,hypernoise", "--every", "100"];
    ok(&tiny_eval(generator, out, &[&rows[..], &["--batch", "4"], extra].concat()));
    read_json(out.join("eval.json"))
}

/// `fit` on the CPU with the redness reward, one warmup step and `extra` arguments.
fn tiny_fit(generator: &Path, out: &Path, steps: &str, extra: &[&str]) -> Output {
    tiny_train("fit", generator, out, steps, extra)
}

/// `fit` or `finetune` (`command`) as [`tiny_fit`].
fn tiny_train(command: &str, generator: &Path, out: &Path, steps: &str, extra: &[&str]) -> Output {
    let (generator, out) = (generator.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["--device", "cpu", command, "--generator", generator, "--reward", "redness"];
    args.extend(["--out", out, "--steps", steps, "--warmup", "1"]);
    args.extend(extra);
    trainer(&args)
}

/// A freshly initialised generator of the pooled design (one prompt vector), at the tiny size.
fn tiny_pooled_generator() -> Vec<u8> {
    use hypernoise::generator::{Generator, GeneratorConfig};
    let c = GeneratorConfig::tiny_pooled();
    Generator::new(&c, None, &burn::prelude::Device::flex()).to_bytes(&c).unwrap()
}

fn tiny_teacher_seeded(dir: &Path, seed: &str) -> PathBuf {
    tiny_teacher_with(dir, &["--seed", seed])
}

/// A tiny teacher of 4 steps trained into `dir` with `flags` besides the usual ones.
fn tiny_teacher_with(dir: &Path, flags: &[&str]) -> PathBuf {
    let mut args = teach_args(dir.to_str().unwrap(), "4");
    args.extend(flags);
    ok(&trainer(&args));
    dir.join("teacher.safetensors")
}

#[test]
fn run_folders_are_guarded() {
    let dir = fresh("guarded");
    let g = tiny_teacher(&dir.join("g"));
    let fit = |out: &Path, steps: &str| {
        tiny_fit(&g, out, steps, &["--rank", "2", "--batch", "2", "--checkpoint-every", "2", "--val-every-item", "100"])
    };
    let run = dir.join("run");
    ok(&fit(&run, "2"));
    let adapters = run.join("hypernoise.safetensors");
    let shipped = std::fs::read(&adapters).unwrap();

    // a second run in a folder another live process writes is refused, and writes nothing
    std::fs::write(run.join(".lock"), "1").unwrap();
    let o = fit(&run, "4");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("another run (process 1)"), "{err}");
    std::fs::remove_file(run.join(".lock")).unwrap();

    // a copied folder resumes: where the run lives is not one of its settings
    let copy = dir.join("copy");
    std::fs::create_dir_all(copy.join("checkpoint")).unwrap();
    for f in std::fs::read_dir(run.join("checkpoint")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join("checkpoint").join(f.file_name().unwrap())).unwrap();
    }
    for f in ["metrics.json", "best.safetensors"] {
        std::fs::copy(run.join(f), copy.join(f)).unwrap();
    }
    assert!(ok(&fit(&copy, "4")).contains("resuming from step 2"));

    // a state claiming an impossible step, or missing, is damage, not a fresh start
    let state = copy.join("checkpoint/state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["step"] = serde_json::json!(1_000_000_000_000u64);
    std::fs::write(&state, json.to_string()).unwrap();
    let err = String::from_utf8_lossy(&fit(&copy, "6").stderr).into_owned();
    assert!(err.contains("the checkpoint is damaged"), "{err}");
    std::fs::remove_file(&state).unwrap();
    let err = String::from_utf8_lossy(&fit(&copy, "6").stderr).into_owned();
    assert!(err.contains("has no state.json"), "{err}");

    // a corrupt best.safetensors is never copied over the run's result
    std::fs::write(run.join("best.safetensors"), b"not weights").unwrap();
    let o = fit(&run, "2");
    assert!(!o.status.success(), "a corrupt best is an error");
    assert_eq!(std::fs::read(&adapters).unwrap(), shipped, "the valid result is untouched");
}

#[test]
fn fit_trains_a_light_hypernetwork_that_eval_serves() {
    let dir = fresh("light");
    let g = tiny_teacher(&dir.join("g"));
    let run = dir.join("run");
    let light = ["--design", "light", "--grid", "4", "--hidden", "16", "--batch", "2", "--lr", "0.5"];
    let fit = |steps: &str| {
        tiny_fit(&g, &run, steps, &[&light[..], &["--checkpoint-every", "2", "--val-every-item", "100"]].concat())
    };
    ok(&fit("2"));
    let adapters = run.join("hypernoise.safetensors");
    let names = tensors(&adapters).into_keys().collect::<Vec<_>>();
    assert!(!names.is_empty() && names.iter().all(|k| !k.contains("lora") && !k.starts_with("unet")), "{names:?}");
    assert!(ok(&fit("4")).contains("resuming from step 2"), "a light run resumes");
    // a LoRA run does not resume a light one's folder
    let o = tiny_fit(&g, &run, "6", &["--batch", "2", "--checkpoint-every", "2", "--val-every-item", "100"]);
    assert!(!o.status.success(), "a LoRA run resumed a light run's folder");

    let json = hypernoise_table(&g, &adapters, &dir.join("table"), &[]);
    let row = &json["rows"]["hypernoise"];
    assert!(row["mean"].as_f64().is_some(), "{json}");
    assert_eq!(row["design"], "light 4x4 frequencies, 16 wide");
    // the prompt encoder's embeddings ((28 words + 12 positions) x 16), its two layers (12 x 16
    // -> 16 -> 16), the MLP's three (3 x 4 x 4 coefficients and the prompt's 16 -> 16 -> 16 -> 48)
    let prompt = (28 + 12) * 16 + (12 * 16 * 16 + 16) + (16 * 16 + 16);
    let parameters = prompt + ((48 + 16) * 16 + 16) + (16 * 16 + 16) + (16 * 48 + 48);
    assert_eq!(row["parameters"], parameters, "{row}");

    // reading the prompt through the generator's encoder: no encoder of its own, and an MLP that
    // takes the encoded prompt's 13 slots of 8 instead
    let reads = dir.join("reads-generator");
    let args = [&light[..], &["--light-prompt", "generator", "--val-every-item", "100"]].concat();
    ok(&tiny_fit(&g, &reads, "2", &args));
    let adapters = reads.join("hypernoise.safetensors");
    assert!(tensors(&adapters).keys().all(|k| !k.starts_with("prompt")));
    let json = hypernoise_table(&g, &adapters, &dir.join("table-reads"), &[]);
    let row = &json["rows"]["hypernoise"];
    assert_eq!(row["design"], "light 4x4 frequencies, 16 wide, reading the generator's prompt");
    assert_eq!(row["parameters"], ((48 + 13 * 8) * 16 + 16) + (16 * 16 + 16) + (16 * 48 + 48), "{row}");

    let o = tiny_train("finetune", &g, &dir.join("ft"), "1", &["--design", "light"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("fine-tuning needs LoRA"), "{o:?}");
    // sizes out of bounds are the arguments' errors, and leave no run folder
    for (args, message) in [
        (&["--design", "light", "--grid", "17"][..], "grid 17 must be from 1 to the resolution 16"),
        (&["--rank", "0"][..], "LoRA rank 0 is outside 1..=1024"),
    ] {
        let out = dir.join("bad");
        let o = tiny_fit(&g, &out, "1", args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(message) && !stderr.contains("cannot load"), "{stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn fit_trains_a_coarse_hypernetwork_continues_trained_adapters_and_eval_draws_k_steps() {
    let dir = fresh("coarse");
    let g = tiny_teacher(&dir.join("g"));
    let coarse = ["--offset-resolution", "8", "--batch", "2", "--checkpoint-every", "2", "--val-every-item", "100"];
    let run = dir.join("run");
    ok(&tiny_fit(&g, &run, "2", &coarse));
    let adapters = run.join("hypernoise.safetensors");
    let json = hypernoise_table(&g, &adapters, &dir.join("table"), &[]);
    let row = &json["rows"]["hypernoise"];
    assert_eq!(row["design"], "LoRA rank 32 alpha 32, f at 8x8", "{row}");
    assert_eq!(row["nfe"], 1, "f on 8 x 8 block means is a fraction of a generator pass: {row}");
    // the table's coarse row, beside the base, at its strength and passes (two unless told):
    // 0 draws the base's images
    let coarse_row = |strength: &str, passes: &[&str]| {
        let args = ["--coarse", adapters.to_str().unwrap(), "--coarse-strength", strength];
        let rows = ["--methods", "base,hypernoise-coarse", "--every", "100", "--batch", "4"];
        ok(&tiny_eval(&g, &dir.join("coarse-table"), &[&args[..], &rows[..], passes].concat()));
        read_json(dir.join("coarse-table/eval.json"))
    };
    let at_zero = coarse_row("0", &[]);
    let (base, row) = (&at_zero["rows"]["base"], &at_zero["rows"]["hypernoise_coarse"]);
    assert_eq!((row["distance_to_base"].as_f64(), row["mean"].as_f64()), (Some(0.0), base["mean"].as_f64()));
    assert_eq!(
        (row["strength"].as_f64(), row["passes"].as_u64(), row["nfe"].as_u64()),
        (Some(0.0), Some(2), Some(1)),
        "{row}"
    );
    let row = &coarse_row("1.5", &["--coarse-passes", "1"])["rows"]["hypernoise_coarse"];
    assert!(row["distance_to_base"].as_f64() > Some(0.0) && row["strength"] == 1.5 && row["passes"] == 1, "{row}");

    // continuing them: the same design, or a clear refusal that names both
    let more = dir.join("more");
    let init = ["--init", adapters.to_str().unwrap()];
    ok(&tiny_fit(&g, &more, "2", &[&coarse[..], &init[..]].concat()));
    assert!(more.join("hypernoise.safetensors").exists());
    let o = tiny_fit(&g, &dir.join("other"), "2", &[&["--batch", "2"][..], &init[..]].concat());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("cannot continue") && stderr.contains("f at 8x8"), "{stderr}");
    let o = tiny_fit(&g, &dir.join("bad"), "1", &["--offset-resolution", "5"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("offset resolution 5 must divide"), "{o:?}");
    let o = tiny_train("finetune", &g, &dir.join("ft"), "1", &["--offset-resolution", "8"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("only a noise hypernetwork"), "{o:?}");

    // k Euler steps of the teacher: base and HyperNoise rows, the sampler on record
    let json = hypernoise_table(&g, &adapters, &dir.join("k-steps"), &["--gen-steps", "2"]);
    assert_eq!(json["sampler"], "Flow { steps: 2, guidance: 3.0, shift: 1.0 }");
    assert!(json["best_of"].is_null() && json["reno_iterations"].is_null(), "rows that did not run: {json}");
    assert_eq!(json["rows"]["base"]["nfe"], 4, "{json}");
    let o = tiny_eval(&g, &dir.join("k-all"), &["--gen-steps", "2", "--every", "100"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("base and HyperNoise rows only"), "{o:?}");
}

/// Small batches, and a checkpoint every 3 steps that scores one validation item in 100.
const QUICK: [&str; 6] = ["--batch", "2", "--checkpoint-every", "3", "--val-every-item", "100"];

/// A LoRA hypernetwork of the tiny generator `g`, trained for 3 steps in `dir/lora`: a teacher
/// for the designs that imitate one.
fn lora_teacher(g: &Path, dir: &Path) -> PathBuf {
    let lora = dir.join("lora");
    ok(&tiny_fit(g, &lora, "3", &[&QUICK[..], &["--rank", "2", "--lr", "0.05"]].concat()));
    lora.join("hypernoise.safetensors")
}

#[test]
fn a_light_hypernetwork_imitates_a_lora_one() {
    let dir = fresh("imitate");
    let g = tiny_teacher(&dir.join("g"));
    let teacher = lora_teacher(&g, &dir);
    let light = ["--design", "light", "--grid", "4", "--hidden", "16", "--lr", "0.05"];
    let imitate = |out: &Path, steps: &str, file: &Path| {
        let args = [&QUICK[..], &light[..], &["--imitate", file.to_str().unwrap()]].concat();
        tiny_fit(&g, out, steps, &args)
    };
    let run = dir.join("run");
    let text = ok(&imitate(&run, "6", &teacher));
    assert!(text.contains("imitation gap"), "{text}");
    let metrics = read_json(run.join("metrics.json"));
    let gaps: Vec<f64> = metrics.as_array().unwrap()[1..].iter().map(|m| m["imitation"].as_f64().unwrap()).collect();
    assert!(gaps.len() == 2 && gaps[1] < gaps[0], "the gap closes: {metrics}");
    assert!(metrics[1]["reward"].is_null(), "no reward is trained on: {metrics}");
    assert!(tensors(&run.join("hypernoise.safetensors")).keys().all(|k| !k.contains("lora")));
    // the run's settings include what it imitates: another teacher does not resume it
    let other = dir.join("other.safetensors");
    std::fs::copy(&teacher, &other).unwrap();
    assert!(!imitate(&run, "9", &other).status.success(), "a run resumed with another teacher");

    // what cannot be imitated is refused before a run folder is made
    let finetuned = dir.join("ft");
    let o = tiny_train("finetune", &g, &finetuned, "1", &["--rank", "2", "--batch", "2", "--val-every-item", "100"]);
    ok(&o);
    let other_generator = tiny_teacher_seeded(&dir.join("g2"), "1");
    let other_lora = dir.join("lora2");
    ok(&tiny_fit(&other_generator, &other_lora, "1", &[&QUICK[..], &["--rank", "2"]].concat()));
    for (file, says) in [
        (dir.join("missing.safetensors"), "cannot read"),
        (finetuned.join("finetune.safetensors"), "fine-tuned adapters, not a noise hypernetwork"),
        (other_lora.join("hypernoise.safetensors"), "trained on generator"),
    ] {
        let out = dir.join("refused");
        let o = imitate(&out, "1", &file);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && stderr.contains(says), "{says}: {stderr}");
        assert!(!out.exists(), "{says}: a refused run left a folder");
    }
}

#[test]
fn finetune_distils_a_hypernetwork_into_the_generator_that_eval_serves_in_one_pass() {
    let dir = fresh("distil-hypernoise");
    let g = tiny_teacher(&dir.join("g"));
    let teacher = lora_teacher(&g, &dir);
    let run = dir.join("run");
    let args = [&QUICK[..], &["--rank", "2", "--lr", "0.05", "--imitate", teacher.to_str().unwrap()]].concat();
    let text = ok(&tiny_train("finetune", &g, &run, "6", &args));
    assert!(text.contains("imitation gap"), "{text}");
    let metrics = read_json(run.join("metrics.json"));
    let rows = &metrics.as_array().unwrap()[1..];
    let gaps: Vec<f64> = rows.iter().map(|m| m["imitation"].as_f64().unwrap()).collect();
    assert!(gaps.len() == 2 && gaps[1] < gaps[0], "the gap to the hypernetwork's images closes: {metrics}");
    assert!(rows.iter().all(|m| m["reward"].is_null()), "no reward is trained on: {metrics}");
    // fine-tuned adapters: the table serves them folded, one generator pass
    let table = dir.join("table");
    let finetuned = run.join("finetune.safetensors");
    let args =
        ["--finetune", finetuned.to_str().unwrap(), "--methods", "base,finetune", "--every", "100", "--batch", "4"];
    ok(&tiny_eval(&g, &table, &args));
    let json = read_json(table.join("eval.json"));
    assert_eq!(json["rows"]["finetune"]["nfe"], 1, "{json}");
}

#[test]
fn fit_learns_a_teachers_passes_as_one_offset() {
    let dir = fresh("imitate-passes");
    let g = tiny_teacher(&dir.join("g"));
    let teacher = lora_teacher(&g, &dir);
    let t = teacher.to_str().unwrap();
    // the teacher as its own student, all but unmoved (Adam's steps are about the rate): the
    // gap is then what the teacher's passes move beyond its own single offset
    let run = |name: &str, passes: &[&str]| {
        let out = dir.join(name);
        let own = ["--rank", "2", "--optimizer", "adam", "--lr", "1e-9", "--imitate", t, "--init", t];
        let o = tiny_fit(&g, &out, "3", &[&QUICK[..], &own[..], passes].concat());
        (o, out)
    };
    let terms = |passes: &[&str], name: &str| {
        let (o, out) = run(name, passes);
        ok(&o);
        let m = &read_json(out.join("metrics.json"))[1];
        (m["imitation"].as_f64().unwrap(), m["regulariser"].as_f64().unwrap())
    };
    let (once, norm) = terms(&[], "once");
    assert!(norm > 0.0 && once < 1e-6 * norm, "one pass at strength 1 is the student itself: {once} of {norm}");
    // one pass at half strength: 1/2 ||f - f/2||^2, a quarter of 1/2 ||f||^2
    let (half, norm) = terms(&["--imitate-strength", "0.5"], "half");
    assert!((half / norm - 0.25).abs() < 1e-3, "{half} against {norm}");
    // two passes: the second offset, from where the first left the noise, is the gap
    let (twice, norm) = terms(&["--imitate-passes", "2"], "twice");
    assert!(twice > 1e-3 * norm, "the second pass moved nothing: {twice} of {norm}");
    // the passes are part of the run: one pass does not resume it, nor do absurd passes start one
    assert!(!run("twice", &[]).0.status.success(), "a two-pass run resumed as one pass");
    for bad in [["--imitate-passes", "5"], ["--imitate-strength", "3"]] {
        let (o, out) = run("bad", &bad);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && stderr.contains("from"), "{bad:?}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn a_coarse_hypernetwork_imitates_a_full_ones_images() {
    let dir = fresh("imitate-images");
    let g = tiny_teacher(&dir.join("g"));
    let teacher = lora_teacher(&g, &dir);
    let by_images = ["--offset-resolution", "8", "--imitate", teacher.to_str().unwrap(), "--imitate-images"];
    let adam = ["--optimizer", "adam", "--lr", "0.01"];
    let run = dir.join("run");
    ok(&tiny_fit(&g, &run, "6", &[&QUICK[..], &adam[..], &by_images[..]].concat()));
    let metrics = read_json(run.join("metrics.json"));
    let rows = &metrics.as_array().unwrap()[1..];
    let gaps: Vec<f64> = rows.iter().map(|m| m["imitation"].as_f64().unwrap()).collect();
    assert!(gaps.len() == 2 && gaps[1] < gaps[0], "the gap to the teacher's images closes: {metrics}");
    assert!(rows.iter().all(|m| m["reward"].is_null()), "no reward is trained on: {metrics}");
    // the objective is part of the run: imitating offsets does not resume it
    let by_offsets = &by_images[..4];
    let o = tiny_fit(&g, &run, "9", &[&QUICK[..], &adam[..], by_offsets].concat());
    assert!(!o.status.success(), "a run of images resumed on offsets: {o:?}");
    // fine-tuning always learns the images, and the flag needs a teacher
    let o = tiny_train("finetune", &g, &dir.join("ft"), "1", &[&QUICK[..], &by_images[2..]].concat());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is fit's"), "{o:?}");
    assert!(!dir.join("ft").exists());
    let o = tiny_fit(&g, &dir.join("alone"), "1", &["--imitate-images"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--imitate"), "{o:?}");
}

#[test]
fn fit_trains_a_compact_hypernetwork_on_the_reward_or_by_imitation_that_eval_serves() {
    let dir = fresh("compact");
    let g = tiny_teacher(&dir.join("g"));
    let compact = ["--design", "compact", "--divisor", "2", "--lr", "0.05"];
    let teacher = lora_teacher(&g, &dir);
    let (on_reward, imitating) = (dir.join("reward"), dir.join("imitating"));
    ok(&tiny_fit(&g, &on_reward, "3", &[&QUICK[..], &compact[..]].concat()));
    let imitate = ["--imitate", teacher.to_str().unwrap()];
    ok(&tiny_fit(&g, &imitating, "6", &[&QUICK[..], &compact[..], &imitate[..]].concat()));
    let metrics = read_json(imitating.join("metrics.json"));
    let rows = &metrics.as_array().unwrap()[1..];
    assert!(
        rows.len() == 2 && rows.iter().all(|m| m["imitation"].as_f64().is_some() && m["reward"].is_null()),
        "{metrics}"
    );
    for run in [&on_reward, &imitating] {
        let adapters = run.join("hypernoise.safetensors");
        let names = tensors(&adapters).into_keys().collect::<Vec<_>>();
        assert!(names.iter().any(|k| k.starts_with("unet.")) && names.iter().all(|k| !k.contains("lora")), "{names:?}");
        let json = hypernoise_table(&g, &adapters, &run.join("table"), &[]);
        let row = &json["rows"]["hypernoise"];
        assert!(row["mean"].as_f64().is_some(), "{json}");
        assert_eq!(row["design"], "compact, the generator's design at 1/2 of its widths", "{row}");
        assert_eq!(row["nfe"], 1, "a fraction of a generator pass: {row}");
    }
    // widths the generator's cannot be divided into are the arguments' error, before any run folder
    let bad = dir.join("bad");
    let o = tiny_fit(&g, &bad, "1", &["--design", "compact", "--divisor", "3"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("divisor 3"), "{stderr}");
    assert!(!bad.exists());
}

#[test]
fn fit_averages_its_checkpoints_from_a_step_on_and_a_resumed_run_redoes_the_soup() {
    let dir = fresh("soup");
    let g = tiny_teacher(&dir.join("g"));
    let run = dir.join("run");
    let args = ["--batch", "2", "--checkpoint-every", "2", "--val-every-item", "100", "--average-from", "4"];
    ok(&tiny_fit(&g, &run, "4", &args));
    // a member the continued run's steps have not reached yet, as a killed run would leave it:
    // the checkpoint that redoes those steps takes it out of the soup
    let soup = run.join("soup");
    std::fs::copy(soup.join("step-00000004.safetensors"), soup.join("step-00000008.safetensors")).unwrap();
    ok(&tiny_fit(&g, &run, "6", &args));
    let mut members: Vec<_> = std::fs::read_dir(&soup).unwrap().map(|e| e.unwrap().file_name()).collect();
    members.sort();
    assert_eq!(members, ["step-00000004.safetensors", "step-00000006.safetensors"], "steps 4 and 6, not 2 or 8");

    let floats = |path: &Path| -> Vec<f32> {
        tensors(path).values().flat_map(|b| b.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()))).collect()
    };
    let (a, b) = (floats(&soup.join(members[0].clone())), floats(&soup.join(members[1].clone())));
    let mean = floats(&run.join("average.safetensors"));
    assert!(a != b, "the adapters moved between the checkpoints");
    assert!(mean.iter().zip(a.iter().zip(&b)).all(|(m, (x, y))| (m - (x + y) / 2.0).abs() <= 1e-6 * (1.0 + m.abs())));
    let metrics = read_json(run.join("metrics.json"));
    let last = metrics.as_array().unwrap().last().unwrap();
    assert_eq!((last["step"].as_u64(), last["average"]["checkpoints"].as_u64()), (Some(6), Some(2)), "{last}");
    assert!(metrics[1]["average"].is_null(), "step 2 is before --average-from: {metrics}");
    // the average is a hypernetwork like any other
    let json = hypernoise_table(&g, &run.join("average.safetensors"), &dir.join("table"), &[]);
    assert!(json["rows"]["hypernoise"]["mean"].is_number(), "{json}");

    // a member damaged on disk stops the run with its name, and the run goes on once it is removed
    let damaged = soup.join("step-00000006.safetensors");
    std::fs::write(&damaged, &std::fs::read(&damaged).unwrap()[..100]).unwrap();
    let o = tiny_fit(&g, &run, "8", &args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("step-00000006.safetensors is damaged"), "{stderr}");
    std::fs::remove_file(&damaged).unwrap();
    ok(&tiny_fit(&g, &run, "8", &args));
}
