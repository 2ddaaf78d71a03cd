//! Placeholder while the bench is written (issue 6).
fn main() {}
