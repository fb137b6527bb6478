//! Sets `cfg(vector_units)` on targets whose f32 arithmetic runs on vector units (x86, 64-bit
//! Arm, wasm with simd128): one definition for `scalar::VECTOR_UNITS` and for the kernels'
//! `cfg_attr`s, which cannot name a `const`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(vector_units)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let simd128 = features.split(',').any(|f| f == "simd128");
    if matches!(arch.as_str(), "x86_64" | "x86" | "aarch64") || simd128 {
        println!("cargo::rustc-cfg=vector_units");
    }
}
