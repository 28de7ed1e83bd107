// openid-client 6 as a relying party of `ief serve`: discovery from the issuer, the
// authorization code flow with PKCE, state and nonce, id_token validation, userinfo, then a
// refresh.
// The test drives the pages between: this script prints `authorize <url>`, reads
// `callback <url>` from stdin, and prints `result <json>` (or `error <json>` and exits 1).
// Trust for the server's CA comes from NODE_EXTRA_CA_CERTS.
import * as client from 'openid-client';
import { nextLine } from './lines.mjs';

const [issuer, clientId, redirectUri] = process.argv.slice(2);

async function main() {
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None());
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: `openid offline_access ${clientId}`,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  console.log(`authorize ${url.href}`);
  const callback = await nextLine('callback ');
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  console.log(`result ${JSON.stringify({
    issuer: config.serverMetadata().issuer,
    claims: tokens.claims(),
    has_access_token: typeof tokens.access_token === 'string',
    userinfo,
    refreshed_claims: refreshed.claims(),
    refresh_rotated: refreshed.refresh_token !== tokens.refresh_token,
  })}`);
}

main().catch((e) => {
  console.log(`error ${JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: String(e.cause ?? '') })}`);
  process.exit(1);
});
