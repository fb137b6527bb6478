//! `ByUnit` and `Lanes` against the reference kernels in f32 (core/tests/float_kernels/).

mod common;
mod float_kernels;

#[test]
fn f32_matrix_kernels_match_the_reference() {
    float_kernels::float_table::<f32>("f32");
}
