// MSAL.js in a page: loginRedirect, then acquireTokenSilent. The settings travel in the query
// of the first load and wait in sessionStorage across the redirect. What happened is written
// to #result as JSON for the test to read.
(async () => {
  const out = document.getElementById('result');
  const show = (value) => { out.textContent = JSON.stringify(value); };
  try {
    const query = new URLSearchParams(location.search);
    if (query.get('authority')) {
      sessionStorage.setItem('ief-spa', JSON.stringify(Object.fromEntries(query)));
    }
    const settings = JSON.parse(sessionStorage.getItem('ief-spa') || '{}');
    const app = new msal.PublicClientApplication({
      auth: {
        clientId: settings.client_id,
        authority: settings.authority,
        knownAuthorities: [new URL(settings.authority).host],
        redirectUri: location.origin + location.pathname,
      },
      cache: { cacheLocation: 'sessionStorage' },
    });
    await app.initialize();
    const signedIn = await app.handleRedirectPromise();
    if (!signedIn) {
      const login = document.getElementById('login');
      login.onclick = () => app.loginRedirect({ scopes: ['openid', settings.scope] });
      login.disabled = false;
      return;
    }
    const silent = await app.acquireTokenSilent({ account: signedIn.account, scopes: [settings.scope], forceRefresh: true });
    show({
      home_account_id: signedIn.account.homeAccountId,
      claims: signedIn.idTokenClaims,
      has_access_token: signedIn.accessToken.length > 0,
      silent_access_token: silent.accessToken.length > 0 && silent.accessToken !== signedIn.accessToken,
      silent_from_cache: silent.fromCache,
      silent_home_account_id: silent.account.homeAccountId,
    });
  } catch (e) {
    show({ error: e.errorCode || e.name, message: e.message });
  }
})();
