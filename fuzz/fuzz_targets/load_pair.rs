#![no_main]

use libfuzzer_sys::fuzz_target;

// Files separated by NUL (up to 3: base, extension, relying party) so chains and merges run.
fuzz_target!(|data: &[u8]| ief_fuzz::run(&ief_fuzz::split(data, 3)));
