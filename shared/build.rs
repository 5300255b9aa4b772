//! With the `tch` feature, compiles the small C++ file that calls LibTorch's convolution backward
//! (cpp/conv2d_backward.cpp, used by src/ops/conv.rs) against the LibTorch torch-sys links:
//! `$LIBTORCH`, which scripts/gpu/build-trainer.sh sets to PyTorch's wheel.

fn main() {
    println!("cargo:rerun-if-changed=cpp/conv2d_backward.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    #[cfg(feature = "tch")]
    compile_conv2d_backward();
}

#[cfg(feature = "tch")]
fn compile_conv2d_backward() {
    let libtorch = std::env::var("LIBTORCH")
        .expect("the tch feature needs LIBTORCH, LibTorch's folder (scripts/gpu/build-trainer.sh sets it)");
    let include = std::path::Path::new(&libtorch).join("include");
    cc::Build::new()
        .cpp(true)
        .file("cpp/conv2d_backward.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        // PyTorch's wheels are built with the C++11 ABI, as torch-sys assumes
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("hypernoise_conv2d_backward");
}
