//! Placeholder while the mirror is written (issue 7).
fn main() {}
