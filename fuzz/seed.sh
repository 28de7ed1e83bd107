#!/bin/sh
# Builds fuzz/corpus/{load,load_pair,xml_to_json,json_claims} from the starter pack and the
# robustness probe's hostile shapes, and fuzz/corpus/scenario from the repository's scenarios
# (not committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# The starter pack sits in ../shared beside the repository (or where STARTERPACK says).
packs=${STARTERPACK:-$here/../../shared/policies/starterpack}
if [ ! -d "$packs" ]; then
  echo "fuzz/seed.sh: no starter pack at $packs; put the shared folder beside the repository or set STARTERPACK to the starter pack's folder" >&2
  exit 1
fi
mkdir -p "$here/corpus/load" "$here/corpus/load_pair" "$here/corpus/xml_to_json" "$here/corpus/json_claims"
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
# The probe's shapes, past the depth limits: nesting, a diagnostic past column 65,535 of one
# line, many diagnostics, characters XML 1.0 forbids. Run with -max_len=131072 so they fit.
ns='xmlns="http://schemas.microsoft.com/online/cpim/schemas/2013/06" PolicySchemaVersion="0.3.0.0" TenantId="t.onmicrosoft.com" PolicyId="B2C_1A_p" PublicPolicyUri="http://t/B2C_1A_p"'
rep() { i=0; while [ $i -lt "$2" ]; do printf '%s' "$1"; i=$((i + 1)); done; }
{ printf '<TrustFrameworkPolicy %s>' "$ns"; rep '<a>' 100; rep '</a>' 100; printf '</TrustFrameworkPolicy>'; } > "$here/corpus/load/probe_deep"
{ printf '<TrustFrameworkPolicy %s><!--' "$ns"; rep 'xxxxxxxxxx' 7000; printf -- '--><Bogus/></TrustFrameworkPolicy>'; } > "$here/corpus/load/probe_long_line"
{ printf '<TrustFrameworkPolicy %s><BuildingBlocks' "$ns"; i=0; while [ $i -lt 2000 ]; do printf ' a%d="v"' $i; i=$((i + 1)); done; printf '/></TrustFrameworkPolicy>'; } > "$here/corpus/load/probe_many"
{ printf '<TrustFrameworkPolicy %s><BuildingBlocks><ClaimsSchema><ClaimType Id="a"><DisplayName>\001\000&#1;</DisplayName><DataType>string</DataType></ClaimType></ClaimsSchema></BuildingBlocks></TrustFrameworkPolicy>' "$ns"; } > "$here/corpus/load/probe_forbidden"

# Partner data: documented shapes, and nesting past Json.NET's 64 levels.
printf '<user>\n  <name>Someone</name>\n  <email>someone@example.com</email>\n</user>' > "$here/corpus/xml_to_json/documented"
printf '<?xml version="1.0"?><r a="1"><i>1</i><x/><i>2</i><p>t <b>b</b><![CDATA[<c>]]><?pi x?></p></r>' > "$here/corpus/xml_to_json/conventions"
printf '<!DOCTYPE x [<!ENTITY e "v">]><a>&e;&amp;&#65;</a>' > "$here/corpus/xml_to_json/doctype"
{ rep '<a>' 100; printf 'x'; rep '</a>' 100; } > "$here/corpus/xml_to_json/deep"
printf 'city\n{"city":"Paris","n":1e5,"a":[1,{"b":null}],"t":true}' > "$here/corpus/json_claims/object"
printf 'v\n[{"v":"x"},2]' > "$here/corpus/json_claims/array"
printf 'v\n{"v":123456789012345678901234567890,"v":-7.0}' > "$here/corpus/json_claims/numbers"
{ printf 'v\n{"v":'; rep '[' 100; printf '1'; rep ']' 100; printf '}'; } > "$here/corpus/json_claims/deep"
# Scenarios: every YAML file under policies/, and one nested just past the depth limit.
mkdir -p "$here/corpus/scenario"
find "$here/../policies" -name '*.yaml' | while read -r f; do
  cp "$f" "$here/corpus/scenario/$(echo "${f#"$here/../policies/"}" | tr / _)"
done
printf 'policy: a.xml\nhttp_stubs:\n  - path: /x\n    body: %s1%s\n' \
  "$(printf '[%.0s' $(seq 65))" "$(printf ']%.0s' $(seq 65))" > "$here/corpus/scenario/deep_flow"
for t in load load_pair xml_to_json json_claims scenario; do printf '%s: %s  ' "$t" "$(ls "$here/corpus/$t" | wc -l)"; done; echo
