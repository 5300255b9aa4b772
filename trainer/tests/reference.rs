//! `trainer export-reference`, the file another implementation of the models is checked against
//! (`bench/torch/check.py`): every input and output with its shape, and outputs that are the
//! shipped hypernetwork's and fit's.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A safetensors file's f32 tensors by name: shape and values.
fn read_f32(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.dtype(), safetensors::Dtype::F32, "{k}");
            (
                k,
                (
                    v.shape().to_vec(),
                    v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                ),
            )
        })
        .collect()
}

#[test]
fn reference_holds_every_output_of_the_shipped_hypernetwork() {
    let dir = std::env::temp_dir().join(format!("hypernoise-reference-{}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["export-reference", "--out", dir.to_str().unwrap(), "--batch", "2", "--seed", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = read_f32(&dir.join("reference.safetensors"));
    let image = vec![2, 3, 64, 64];
    let expected = BTreeMap::from([
        ("z", image.clone()),
        ("tokens", vec![2, 12]),
        ("base_image", image.clone()),
        ("offset", image.clone()),
        ("hypernoise_image", image),
        ("reward", vec![2]),
        ("regulariser", vec![2]),
        ("loss", vec![1]),
    ]);
    let shapes: BTreeMap<&str, Vec<usize>> = t.iter().map(|(k, (s, _))| (k.as_str(), s.clone())).collect();
    assert_eq!(shapes, expected);

    // the shipped adapters move the image: g(z + f) is not g(z) (f's RMS is ~0.02)
    let moved = t["hypernoise_image"].1.iter().zip(&t["base_image"].1).map(|(h, b)| (h - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-2, "g(z + f) is g(z) up to {moved}");
    // the regulariser is 1/2 ||f||^2 of the exported offset, and the loss fit's mean(reg - r)
    let offset = &t["offset"].1;
    for (i, reg) in t["regulariser"].1.iter().enumerate() {
        let half_sq: f32 = offset[i * 3 * 64 * 64..(i + 1) * 3 * 64 * 64].iter().map(|v| v * v).sum::<f32>() / 2.0;
        assert!(*reg > 0.0 && (reg - half_sq).abs() <= 1e-4 * reg, "image {i}: {reg} against {half_sq}");
    }
    let (reg, r) = (&t["regulariser"].1, &t["reward"].1);
    let loss = (reg[0] - r[0] + reg[1] - r[1]) / 2.0;
    assert!((t["loss"].1[0] - loss).abs() <= 1e-5 * loss.abs().max(1.0), "{} against {loss}", t["loss"].1[0]);
}
