#!/bin/sh
# Builds fuzz/corpus/{load,load_pair} from the starter pack and fuzz/corpus/scenario from the
# repository's scenarios (not committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
packs=${STARTERPACK:-$here/../../shared/policies/starterpack}
[ -d "$packs" ] || packs=/work/shared/policies/starterpack
mkdir -p "$here/corpus/load" "$here/corpus/load_pair"
nul() { printf '\000'; }

# Small hand-written chain: base with one journey, relying party on top.
base='<TrustFrameworkPolicy PolicySchemaVersion="0.3.0.0" TenantId="t.onmicrosoft.com" PolicyId="B2C_1A_base"><BuildingBlocks><ClaimsSchema><ClaimType Id="email"><DataType>string</DataType></ClaimType></ClaimsSchema><ClaimsTransformations><ClaimsTransformation Id="ct" TransformationMethod="CopyClaim"><InputClaims><InputClaim ClaimTypeReferenceId="email" TransformationClaimType="inputClaim"/></InputClaims><OutputClaims><OutputClaim ClaimTypeReferenceId="email" TransformationClaimType="outputClaim"/></OutputClaims></ClaimsTransformation></ClaimsTransformations></BuildingBlocks><ClaimsProviders><ClaimsProvider><DisplayName>x</DisplayName><TechnicalProfiles><TechnicalProfile Id="tp"><Protocol Name="Proprietary" Handler="Web.TPEngine.Providers.ClaimsTransformationProtocolProvider, Web.TPEngine, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"/><OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims><IncludeTechnicalProfile ReferenceId="tp2"/></TechnicalProfile><TechnicalProfile Id="tp2"><OutputClaimsTransformations><OutputClaimsTransformation ReferenceId="ct"/></OutputClaimsTransformations></TechnicalProfile></TechnicalProfiles></ClaimsProvider></ClaimsProviders><UserJourneys><UserJourney Id="j"><OrchestrationSteps><OrchestrationStep Order="1" Type="ClaimsExchange"><Preconditions><Precondition Type="ClaimsExist" ExecuteActionsIf="true"><Value>email</Value><Action>SkipThisOrchestrationStep</Action></Precondition></Preconditions><ClaimsExchanges><ClaimsExchange Id="e" TechnicalProfileReferenceId="tp"/></ClaimsExchanges></OrchestrationStep><OrchestrationStep Order="2" Type="SendClaims" CpimIssuerTechnicalProfileReferenceId="JwtIssuer"/></OrchestrationSteps></UserJourney></UserJourneys></TrustFrameworkPolicy>'
rp='<TrustFrameworkPolicy PolicySchemaVersion="0.3.0.0" TenantId="t.onmicrosoft.com" PolicyId="B2C_1A_rp"><BasePolicy><TenantId>t.onmicrosoft.com</TenantId><PolicyId>B2C_1A_base</PolicyId></BasePolicy><ClaimsProviders><ClaimsProvider><TechnicalProfiles><TechnicalProfile Id="tp"><DisplayName>over</DisplayName></TechnicalProfile></TechnicalProfiles></ClaimsProvider></ClaimsProviders><RelyingParty><DefaultUserJourney ReferenceId="j"/><TechnicalProfile Id="PolicyProfile"><Protocol Name="OpenIdConnect"/><OutputClaims><OutputClaim ClaimTypeReferenceId="email"/></OutputClaims><SubjectNamingInfo ClaimType="sub"/></TechnicalProfile></RelyingParty></TrustFrameworkPolicy>'
printf '%s' "$base" > "$here/corpus/load/small_base"
printf '%s' "$rp" > "$here/corpus/load/small_rp"
{ printf '%s' "$base"; nul; printf '%s' "$rp"; } > "$here/corpus/load_pair/small_chain"

for dir in "$packs"/*/; do
  pack=$(basename "$dir")
  for f in "$dir"*.xml; do
    cp "$f" "$here/corpus/load/${pack}_$(basename "$f" .xml)"
  done
  for rpf in "$dir"SignUpOrSignin.xml "$dir"ProfileEdit.xml "$dir"PasswordReset.xml; do
    [ -f "$rpf" ] || continue
    name=$(basename "$rpf" .xml)
    { cat "$dir"TrustFrameworkBase.xml; nul; cat "$dir"TrustFrameworkExtensions.xml; nul; cat "$rpf"; } \
      > "$here/corpus/load_pair/${pack}_$name"
    { cat "$dir"TrustFrameworkExtensions.xml; nul; cat "$rpf"; } > "$here/corpus/load_pair/${pack}_ext_$name"
  done
done
# One UTF-16LE seed so the decoder's BOM paths are covered.
if command -v iconv >/dev/null; then
  { printf '\377\376'; printf '%s' "$rp" | iconv -f UTF-8 -t UTF-16LE; } > "$here/corpus/load/small_rp_utf16"
fi
# Scenarios: every YAML file under policies/, and one nested just past the depth limit.
mkdir -p "$here/corpus/scenario"
find "$here/../policies" -name '*.yaml' | while read -r f; do
  cp "$f" "$here/corpus/scenario/$(echo "${f#"$here/../policies/"}" | tr / _)"
done
printf 'policy: a.xml\nhttp_stubs:\n  - path: /x\n    body: %s1%s\n' \
  "$(printf '[%.0s' $(seq 65))" "$(printf ']%.0s' $(seq 65))" > "$here/corpus/scenario/deep_flow"
echo "seeded: $(ls "$here/corpus/load" | wc -l) load, $(ls "$here/corpus/load_pair" | wc -l) load_pair," \
  "$(ls "$here/corpus/scenario" | wc -l) scenario"
