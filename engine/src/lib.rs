//! Policy loading, merging and validation.
