//! A regular expression that does not compile is refused with the cause, in a claim type's
//! Pattern and in a MatchesRegex predicate alike.

use ief_engine::{Diagnostics, EffectivePolicy, PolicySet};

#[test]
fn a_pattern_that_does_not_compile_is_refused_with_its_cause() {
    // `_-@` is a range from '_' down to '@', which .NET refuses as well.
    let policy = r#"<TrustFrameworkPolicy xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="contoso.onmicrosoft.com" PolicyId="B2C_1A_Patterns" PublicPolicyUri="http://contoso.onmicrosoft.com/B2C_1A_Patterns">
<BuildingBlocks>
  <ClaimsSchema>
    <ClaimType Id="userName"><DataType>string</DataType><UserInputType>TextBox</UserInputType>
      <Restriction><Pattern RegularExpression="^[a-z0-9_-@]*$" HelpText="Letters and digits."/></Restriction></ClaimType>
  </ClaimsSchema>
  <Predicates>
    <Predicate Id="Name" Method="MatchesRegex" HelpText="Letters and digits.">
      <Parameters><Parameter Id="RegularExpression">^[a-z0-9_-@]*$</Parameter></Parameters>
    </Predicate>
  </Predicates>
</BuildingBlocks>
</TrustFrameworkPolicy>"#;
    let set = PolicySet::from_sources([("patterns.xml", policy)]);
    let mut diags = Diagnostics::default();
    EffectivePolicy::build(&set, 0, &mut diags);
    let found: Vec<&str> = diags.iter().filter(|d| d.code.as_str() == "IEF605").map(|d| d.message.as_str()).collect();
    let cause = "invalid character class range, the start must be <= the end";
    assert_eq!(
        found,
        [
            format!("the pattern does not compile: {cause}"),
            format!("predicate 'Name' has a RegularExpression that does not compile: {cause}")
        ]
    );
}
