#![no_main]

use ief_transforms::{ClaimValue, DataType};
use libfuzzer_sys::fuzz_target;

// Partner XML (a REST response, a provider's answer) through XmlStringToJsonString: a result or
// the method's error, never a panic or a stack overflow; the result is JSON.
fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    if let Ok(Some(ClaimValue::String(json))) =
        ief_fuzz::transform("XmlStringToJsonString", &[("xml", xml)], &[], &[("json", DataType::String)])
    {
        serde_json::from_str::<serde_json::Value>(&json).expect("XmlStringToJsonString writes JSON");
    }
});
