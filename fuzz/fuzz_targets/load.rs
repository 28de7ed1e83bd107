#![no_main]

use libfuzzer_sys::fuzz_target;

// One file: decode, load, build and compile every relying party.
fuzz_target!(|data: &[u8]| ief_fuzz::run(&[data]));
