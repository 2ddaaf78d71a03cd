//! pagelog's benchmarks: the targets of this package are the files beside this one, run with
//! `cargo bench` (docs/BENCHMARKS.md). This library target is empty; it exists because a
//! package needs one target that is not a benchmark.
