//! The default number of keys (`BENCH_KEYS`, see `scale`), which the summary's title names;
//! the keys are seeded through the batch API by `scale::seed`.

pub const TOTAL_KEYS: usize = 10_000;
