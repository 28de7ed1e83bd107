//! Where the server keeps what outlives one request: sign-ins in flight (by the transaction id
//! inside `tx`), authorization codes, refresh tokens and SSO sessions. One trait, so a store
//! shared by several processes can replace the in-memory one.

use std::collections::HashMap;
use std::sync::Mutex;

use ief_engine::exec::{Page, Progress, Session, SignIn};

/// What the server asked the browser last, and so which call it accepts next.
#[derive(Debug)]
pub enum Step {
    /// A page is shown: the browser may submit it, choose a button or cancel.
    Showing(Page),
    /// The page was submitted and accepted: the browser must fetch `confirmed` for what follows.
    Submitted(Progress),
}

/// The application's validated authorize request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub response_mode: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// `(code_challenge, method)`.
    pub pkce: Option<(String, String)>,
    pub correlation_id: String,
}

/// One sign-in in flight.
#[derive(Debug)]
pub struct Transaction {
    /// The `TID` inside `tx=StateProperties=…`.
    pub id: String,
    /// The policy id, lower case.
    pub policy: String,
    /// The `x-ms-cpim-trans` cookie of the browser that started it: no other browser may go on.
    pub browser: String,
    /// The synchronizer token of the page shown; rotates with every page.
    pub csrf: String,
    pub request: AuthRequest,
    pub sign_in: SignIn,
    pub step: Step,
    /// The load of the policies the sign-in started on (its plan positions are that load's).
    pub version: u64,
    /// Unix seconds after which the sign-in is gone.
    pub expires: i64,
}

/// An issued authorization code, redeemable once.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub policy: String,
    pub pkce: Option<(String, String)>,
    pub scope: String,
    /// The journey's id_token as signed, and its claims.
    pub id_token: String,
    pub claims: serde_json::Value,
    pub expires: i64,
}

/// A refresh token's grant: the handle the client holds is random and means nothing outside.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshGrant {
    pub client_id: String,
    pub policy: String,
    pub scope: String,
    pub claims: serde_json::Value,
    /// The user's id (`issuer_refresh_token_user_identity_claim_type`, objectId by default).
    pub user: Option<String>,
    /// Unix seconds: the refresh journey's `refreshTokenIssuedOnDateTime`.
    pub issued_at: i64,
    pub expires: i64,
    /// Unix seconds of the sign-in the grant descends from: the start of its sliding window.
    pub started: i64,
}

/// The server's state between requests. Taking a transaction out gives the request that took
/// it sole use of it until it is put back: a second request for the same `tx` meanwhile finds
/// nothing, as does any request after a sign-in ended.
pub trait Store: Send + Sync {
    fn put_transaction(&self, tx: Transaction);
    fn take_transaction(&self, id: &str, now: i64) -> Option<Transaction>;
    fn put_code(&self, code: &str, grant: CodeGrant);
    /// Removes the code whether or not the redemption then succeeds: a code is tried once.
    fn take_code(&self, code: &str) -> Option<CodeGrant>;
    fn put_refresh(&self, token: &str, grant: RefreshGrant);
    fn take_refresh(&self, token: &str) -> Option<RefreshGrant>;
    fn put_session(&self, id: &str, session: Session);
    fn session(&self, id: &str) -> Option<Session>;
    fn remove_session(&self, id: &str);
    /// The client ids that signed in through the SSO session `id`, in order (front-channel
    /// sign-out calls the others' logout URLs).
    fn put_session_clients(&self, id: &str, clients: SessionClients);
    fn session_clients(&self, id: &str) -> Option<SessionClients>;
    fn remove_session_clients(&self, id: &str);
}

/// The applications that took part in one SSO session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClients {
    pub clients: Vec<String>,
    /// Unix seconds; as long as the session.
    pub expires: i64,
}

/// Everything in this process's memory: lost at exit, fine for one developer's server.
#[derive(Debug, Default)]
pub struct MemoryStore {
    transactions: Mutex<HashMap<String, Transaction>>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
    /// With the Unix second it expires.
    sessions: Mutex<HashMap<String, (i64, Session)>>,
    session_clients: Mutex<HashMap<String, SessionClients>>,
}

/// How long an SSO session lasts without a sign-in: B2C's default `SessionExpiryInSeconds`.
pub(crate) const SESSION_SECS: i64 = 86_400;

/// Entries of each kind one server keeps at most (sign-ins in flight, codes, refresh tokens,
/// sessions): past this, expired ones are pruned first and then the oldest go, so a flood of
/// requests cannot exhaust memory.
const MAX_ENTRIES: usize = 10_000;

/// Makes room for one more entry in `map`, whose entries expire at `expires`.
fn make_room<T>(map: &mut HashMap<String, T>, expires: impl Fn(&T) -> i64) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    let now = chrono::Utc::now().timestamp();
    map.retain(|_, t| expires(t) > now);
    while map.len() >= MAX_ENTRIES {
        let Some(oldest) = map.iter().min_by_key(|(_, t)| expires(t)).map(|(k, _)| k.clone()) else { break };
        map.remove(&oldest);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store for MemoryStore {
    fn put_transaction(&self, tx: Transaction) {
        let mut map = lock(&self.transactions);
        make_room(&mut map, |t| t.expires);
        map.insert(tx.id.clone(), tx);
    }

    fn take_transaction(&self, id: &str, now: i64) -> Option<Transaction> {
        lock(&self.transactions).remove(id).filter(|t| t.expires > now)
    }

    fn put_code(&self, code: &str, grant: CodeGrant) {
        let mut map = lock(&self.codes);
        make_room(&mut map, |g| g.expires);
        map.insert(code.to_owned(), grant);
    }

    fn take_code(&self, code: &str) -> Option<CodeGrant> {
        lock(&self.codes).remove(code)
    }

    fn put_refresh(&self, token: &str, grant: RefreshGrant) {
        let mut map = lock(&self.refresh);
        make_room(&mut map, |g| g.expires);
        map.insert(token.to_owned(), grant);
    }

    fn take_refresh(&self, token: &str) -> Option<RefreshGrant> {
        lock(&self.refresh).remove(token)
    }

    fn put_session(&self, id: &str, session: Session) {
        let mut map = lock(&self.sessions);
        make_room(&mut map, |(expires, _)| *expires);
        map.insert(id.to_owned(), (chrono::Utc::now().timestamp() + SESSION_SECS, session));
    }

    fn session(&self, id: &str) -> Option<Session> {
        let now = chrono::Utc::now().timestamp();
        lock(&self.sessions).get(id).filter(|(expires, _)| *expires > now).map(|(_, s)| s.clone())
    }

    fn remove_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    fn put_session_clients(&self, id: &str, clients: SessionClients) {
        let mut map = lock(&self.session_clients);
        make_room(&mut map, |c| c.expires);
        map.insert(id.to_owned(), clients);
    }

    fn session_clients(&self, id: &str) -> Option<SessionClients> {
        let now = chrono::Utc::now().timestamp();
        lock(&self.session_clients).get(id).filter(|c| c.expires > now).cloned()
    }

    fn remove_session_clients(&self, id: &str) {
        lock(&self.session_clients).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires: i64) -> CodeGrant {
        CodeGrant {
            client_id: "c".to_owned(),
            redirect_uri: "r".to_owned(),
            policy: "p".to_owned(),
            pkce: None,
            scope: "openid".to_owned(),
            id_token: String::new(),
            claims: serde_json::Value::Null,
            expires,
        }
    }

    #[test]
    fn a_flood_of_codes_stays_bounded_and_expired_ones_go_first() {
        let store = MemoryStore::default();
        let now = chrono::Utc::now().timestamp();
        store.put_code("expired", code(now - 1));
        for i in 0..MAX_ENTRIES {
            store.put_code(&format!("live-{i}"), code(now + 600 + i as i64));
        }
        assert_eq!(lock(&store.codes).len(), MAX_ENTRIES);
        assert!(store.take_code("expired").is_none(), "the expired code went first");
        assert!(store.take_code("live-0").is_some() && store.take_code(&format!("live-{}", MAX_ENTRIES - 1)).is_some());
        store.put_code("one more", code(now + 600));
        assert!(lock(&store.codes).len() <= MAX_ENTRIES);
    }
}
