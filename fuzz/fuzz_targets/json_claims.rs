#![no_main]

use ief_transforms::DataType;
use libfuzzer_sys::fuzz_target;

// Partner JSON through the JSON readers: the first line names the member to extract, the rest
// is the claim. Each method ends in a result or its error, never a panic or a stack overflow.
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (name, json) = text.split_once('\n').unwrap_or(("v", text));
    let name = if name.is_empty() { "v" } else { name };
    let string = DataType::String;
    let extract = [("claimToExtract", name)];
    let _ = ief_fuzz::transform("GetClaimFromJson", &[("inputJson", json)], &extract, &[("extractedClaim", string)]);
    let long = [("extractedClaim", DataType::Long)];
    let _ = ief_fuzz::transform("GetNumericClaimFromJson", &[("inputJson", json)], &extract, &long);
    let pair = [("key", string), ("value", string)];
    let _ = ief_fuzz::transform("GetSingleItemFromJson", &[("inputJson", json)], &[], &pair);
    let first = [("extractedClaim", string)];
    let _ = ief_fuzz::transform("GetSingleValueFromJsonArray", &[("inputJsonClaim", json)], &[], &first);
});
