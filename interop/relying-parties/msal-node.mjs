// MSAL Node as a relying party of `ief serve`, with a B2C authority: the authorization code
// flow with PKCE, then a silent refresh. The test drives the pages between: this script prints
// `authorize <url>`, reads `callback <url>` from stdin, and prints `result <json>` (or
// `error <json>` and exits 1). Trust for the server's CA comes from NODE_EXTRA_CA_CERTS.
import * as msal from '@azure/msal-node';
import { nextLine } from './lines.mjs';

const [authority, clientId, redirectUri, scope] = process.argv.slice(2);

async function main() {
  const app = new msal.PublicClientApplication({
    auth: { clientId, authority, knownAuthorities: [new URL(authority).host] },
  });
  const crypto = new msal.CryptoProvider();
  const { verifier, challenge } = await crypto.generatePkceCodes();
  const state = crypto.createNewGuid();
  const scopes = [scope];
  const url = await app.getAuthCodeUrl({
    scopes,
    redirectUri,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    state,
  });
  console.log(`authorize ${url}`);
  const callback = new URL(await nextLine('callback '));
  const code = callback.searchParams.get('code');
  const result = await app.acquireTokenByCode(
    { code, scopes, redirectUri, codeVerifier: verifier, state },
    { code, state: callback.searchParams.get('state') ?? undefined },
  );
  const silent = await app.acquireTokenSilent({ account: result.account, scopes, forceRefresh: true });
  console.log(`result ${JSON.stringify({
    home_account_id: result.account.homeAccountId,
    username: result.account.username,
    claims: result.idTokenClaims,
    scopes: result.scopes,
    has_access_token: typeof result.accessToken === 'string' && result.accessToken.length > 0,
    silent_home_account_id: silent.account.homeAccountId,
    silent_from_cache: silent.fromCache,
    silent_new_access_token: silent.accessToken !== result.accessToken,
  })}`);
}

main().catch((e) => {
  console.log(`error ${JSON.stringify({ name: e.name, code: e.errorCode ?? e.code, message: e.message })}`);
  process.exit(1);
});
