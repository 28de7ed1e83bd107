#![no_main]

use libfuzzer_sys::fuzz_target;

// Scenario YAML: the nesting pre-scan, then the parser `ief run` uses. Must never panic, and
// no input may take long (the pre-scan keeps the YAML scanner's depth small).
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ief_scenario::parse(text);
    }
});
