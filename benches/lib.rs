//! DuckDuckGoose's benchmarks. Run one with, e.g.,
//! `cargo bench -p duckduckgoose-benches --bench core`; see BENCHMARKS.md
//! and the README's performance section for what each measures.
