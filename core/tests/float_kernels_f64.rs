//! `ByUnit` and `Lanes` against the reference kernels in f64 (core/tests/float_kernels/).

mod common;
mod float_kernels;

#[test]
fn f64_matrix_kernels_match_the_reference() {
    float_kernels::float_table::<f64>("f64");
}
