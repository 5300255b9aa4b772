# Shared paths for the project's scripts (sourced, not run).
# Tools built once per machine live outside the clone so fresh clones and CI reuse them.
export HYPERNOISE_TOOLS=${HYPERNOISE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/hypernoise/tools}
export WASM_BINDGEN="$HYPERNOISE_TOOLS/bin/wasm-bindgen"
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Debian's cargo/rustc 1.96 (with std sources) for wasm32; never the rustup proxies.
deb_cargo() {
  env PATH="$SYS_PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 /usr/bin/cargo "$@"
}
