// node-oidc-provider on 127.0.0.1 as the OpenID Connect peer of ief's interop tests.
//
//   node server.mjs --config CONFIG.json [--port 0] [--ttl 300]
//
// The Rust harness (protocols/tests/it/node_op.rs) generates the TLS material and writes the
// config: { tls: {cert, key, ca} (PEM file paths), accounts: [{username, password, claims}]
// (claims.sub is the account id),
// clients: [node client metadata], consent: "form" | "auto" }.
// Prints "ready <issuer>" once listening. Exits after --ttl seconds or when stdin closes, so a
// crashed test never leaves it running. Every error event is logged to stderr as a JSON line and
// its error_detail echoed in the X-Error-Detail response header, so tests can name the cause.
// Unlike stock node-oidc-provider, a token endpoint error also carries that detail in its
// error_description ("client authentication failed (alg mismatch)"): a deliberate change of
// this test server, so a relying party's own error message can name why it was refused.
// Each userinfo claims lookup is logged with the client, the account and the x5t#S256 of the
// connection's client certificate, so tests can see userinfo was called over mutual TLS.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string' },
    port: { type: 'string', default: process.env.PORT ?? '0' },
    ttl: { type: 'string', default: process.env.IEF_OP_TTL ?? '300' },
  },
});
if (!args.config) {
  console.error('usage: node server.mjs --config CONFIG.json [--port N] [--ttl SECONDS]');
  process.exit(2);
}
const config = JSON.parse(readFileSync(args.config, 'utf8'));
const ttl = Number(args.ttl);

// Backstops: a fixed lifetime, and the parent's end (its pipe to our stdin closes).
setTimeout(() => {
  console.error(JSON.stringify({ event: 'exit', reason: `ttl of ${ttl}s reached` }));
  process.exit(0);
}, ttl * 1000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();

const accounts = new Map(config.accounts.map((a) => [a.username, a]));
const accountsBySub = new Map(config.accounts.map((a) => [a.claims.sub, a]));

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// RFC 4514 order (most specific first, comma separated) from either an RFC 4514 string or
// node's X509Certificate.subject, which is newline separated in certificate order (the reverse).
function rdns(text, fromNode) {
  const parts = fromNode ? text.split('\n').reverse() : text.split(/(?<!\\),/u);
  return parts
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf('=');
      const type = p.slice(0, eq).trim().toUpperCase();
      const value = p.slice(eq + 1).trim().replace(/\\(.)/gu, '$1').toLowerCase();
      return `${type}=${value}`;
    })
    .join(',');
}

function peerCertificate(ctx) {
  return ctx.socket.getPeerX509Certificate?.() ?? undefined;
}

// RFC 8705 §3.1: base64url SHA-256 of the certificate's DER.
function thumbprint(ctx) {
  const cert = peerCertificate(ctx);
  return cert ? createHash('sha256').update(cert.raw).digest('base64url') : null;
}

// An in-process key unless the config names one: the JWKS comes from discovery anyway.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'op-rs256' };

const configuration = {
  clients: config.clients,
  clientAuthMethods: [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
    'tls_client_auth',
    'self_signed_tls_client_auth',
  ],
  // RS384/RS512/PS384/PS512 are off by default.
  enabledJWA: {
    clientAuthSigningAlgValues: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256'],
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Scope claims in the id_token too, which is what a B2C relying party reads.
  conformIdTokenClaims: false,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  jwks: { keys: [signingJwk] },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      tlsClientAuth: true,
      selfSignedTlsClientAuth: true,
      getCertificate(ctx) {
        return peerCertificate(ctx)?.toString();
      },
      certificateAuthorized(ctx) {
        return ctx.socket.authorized === true;
      },
      certificateSubjectMatches(ctx, property, expected) {
        const cert = peerCertificate(ctx);
        if (!cert) return false;
        switch (property) {
          case 'tls_client_auth_subject_dn':
            return rdns(cert.subject, true) === rdns(expected, false);
          case 'tls_client_auth_san_dns':
            return (cert.subjectAltName ?? '').split(', ').includes(`DNS:${expected}`);
          default:
            return false;
        }
      },
    },
  },
  async findAccount(ctx, id) {
    const account = accountsBySub.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims(use) {
        if (use === 'userinfo') {
          console.error(JSON.stringify({
            event: 'userinfo.claims', client: ctx.oidc?.client?.clientId, sub: id, 'x5t#S256': thumbprint(ctx),
          }));
        }
        return { ...account.claims };
      },
    };
  },
  interactions: {
    url(ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>Error</title></head><body><h1>${escapeHtml(out.error)}</h1><p>${escapeHtml(out.error_description ?? '')}</p></body></html>`;
  },
};

function page(title, body) {
  return `<!DOCTYPE html><html><head><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, client, error) {
  const message = error ? `<p class="error">${escapeHtml(error)}</p>` : '';
  return page('Sign in', `<p>to ${escapeHtml(client)}</p>${message}
<form method="post" action="/interaction/${uid}/login">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`);
}

function consentPage(uid, client, scopes) {
  return page('Allow access?', `<p>${escapeHtml(client)} asks for ${escapeHtml(scopes.join(' '))}.</p>
<form method="post" action="/interaction/${uid}/confirm">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function consent(provider, details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return { consent: details.grantId ? {} : { grantId } };
}

// Our own login and consent pages: small, predictable forms for ief's headless user agent.
async function interaction(provider, req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p>interaction mismatch</p>'));
  const client = details.params.client_id;
  const finish = (result) => provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });

  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') return send(res, 200, loginPage(uid, client));
    if (details.prompt.name === 'consent') {
      if (config.consent === 'auto') return finish(await consent(provider, details));
      const scopes = details.prompt.details.missingOIDCScope ?? [];
      return send(res, 200, consentPage(uid, client, scopes));
    }
    return send(res, 400, page('Error', `<p>unknown prompt ${escapeHtml(details.prompt.name)}</p>`));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const account = accounts.get(form.username);
    if (!account || account.password !== form.password) {
      return send(res, 200, loginPage(uid, client, 'Invalid username or password.'));
    }
    return finish({ login: { accountId: account.claims.sub } });
  }
  if (req.method === 'POST' && action === 'confirm') {
    const form = await readForm(req);
    if (form.decision !== 'allow') {
      return finish({ error: 'access_denied', error_description: 'End-User denied the consent' });
    }
    return finish(await consent(provider, details));
  }
  return send(res, 404, page('Not found', ''));
}

const tls = config.tls;
const server = createServer({
  cert: readFileSync(tls.cert),
  key: readFileSync(tls.key),
  ca: [readFileSync(tls.ca)],
  requestCert: true,
  // The provider decides per method: a missing or untrusted certificate is not a TLS error.
  rejectUnauthorized: false,
});

server.on('tlsClientError', (err) => {
  console.error(JSON.stringify({ event: 'tlsClientError', error: err.code, detail: err.message }));
});
// A client certificate whose signature fails to verify (the untrusted-CA case) leaves an
// OpenSSL error on the queue; node 20 then reports it as a clientError (ERR_SSL_EVP_LIB) on the
// next read and, by default, resets the connection before the provider can answer. The TLS
// session itself is fine, so keep it open and let certificateAuthorized() decide.
server.on('clientError', (err, socket) => {
  console.error(JSON.stringify({ event: 'clientError', error: err.code, detail: err.message }));
  if (!String(err.code).startsWith('ERR_SSL_')) socket.destroy();
});

server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  for (const event of ['grant.error', 'userinfo.error', 'authorization.error', 'introspection.error', 'server_error']) {
    provider.on(event, (ctx, err) => {
      const detail = err.error_detail ?? err.message;
      if (detail) ctx.set('x-error-detail', String(detail));
      // The body is already set (JSON for a token request) and not yet sent.
      if (event === 'grant.error' && err.error_detail && typeof ctx.body?.error_description === 'string') {
        ctx.body = { ...ctx.body, error_description: `${ctx.body.error_description} (${err.error_detail})` };
      }
      console.error(JSON.stringify({ event, error: err.error ?? err.name, detail, path: ctx.path }));
    });
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(provider, req, res, url).catch((err) => {
        console.error(JSON.stringify({ event: 'interaction.error', error: err.name, detail: err.message }));
        if (!res.headersSent) send(res, 400, page('Error', `<p>${escapeHtml(err.message)}</p>`));
      });
      return;
    }
    callback(req, res);
  });
  console.log(`ready ${issuer}`);
});
