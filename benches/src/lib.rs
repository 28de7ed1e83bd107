//! Inputs shared by the benchmarks (generated policies).
