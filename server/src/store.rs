//! What the server keeps between requests, typed: sign-ins in flight (by the transaction id
//! inside `tx`, so any process sharing the store can go on with one), authorization codes,
//! refresh-token families and SSO sessions, over an [`ief_store::Store`]. Each value is stored
//! in a compact versioned form, encrypted and authenticated with the server's state key; the
//! handles a client holds (codes, refresh tokens, session cookies) are stored only hashed.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ief_engine::exec::{Page, Progress, Session, SignIn};
use ief_store::{Kind, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ief_store::{MemoryStore, SqliteStore};

/// The stored form's version: bump it whenever a stored type changes shape. A record of
/// another version is refused (the sign-in starts again), never misread.
pub const STATE_FORMAT: u8 = 2;

/// The policy key (in the keys folder) that encrypts stored state; made at the first start.
pub const STATE_KEY: &str = "IefStateKey";

/// How long an SSO session lasts without a sign-in: B2C's default `SessionExpiryInSeconds`.
pub(crate) const SESSION_SECS: i64 = 86_400;

/// How long the developer page's trace of a "Run now" sign-in waits for its result page.
const TRACE_SECS: i64 = 600;

/// A refresh-token family is kept this long past its grant's expiry, so a late client hears
/// that its token expired rather than that it was revoked.
const REFRESH_GRACE_SECS: i64 = 86_400;

/// What the server asked the browser last, and so which call it accepts next.
#[derive(Debug, Serialize, Deserialize)]
pub enum Step {
    /// A page is shown: the browser may submit it, choose a button or cancel.
    Showing(Page),
    /// The page was submitted and accepted: the browser must fetch `confirmed` for what follows.
    Submitted(Progress),
}

/// The application's validated authorize request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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
    /// Of the policies the sign-in started on (their files and settings): its plan positions
    /// mean something only there, so after a reload, or on a process serving other files, it
    /// cannot go on.
    pub fingerprint: u64,
    /// Unix seconds after which the sign-in is gone.
    pub expires: i64,
    /// The stored record's version this request read (0: not stored yet): saving it back
    /// succeeds only if no other request saved it meanwhile.
    #[serde(skip)]
    pub version: u64,
}

/// An issued authorization code, redeemable once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub policy: String,
    pub pkce: Option<(String, String)>,
    pub scope: String,
    /// The journey's id_token as signed, and its claims.
    pub id_token: String,
    #[serde(with = "ief_transforms::stored::json_text")]
    pub claims: serde_json::Value,
    pub expires: i64,
}

/// A refresh token's grant: the handle the client holds is random and means nothing outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub client_id: String,
    pub policy: String,
    pub scope: String,
    #[serde(with = "ief_transforms::stored::json_text")]
    pub claims: serde_json::Value,
    /// The user's id (`issuer_refresh_token_user_identity_claim_type`, objectId by default).
    pub user: Option<String>,
    /// Unix seconds: the refresh journey's `refreshTokenIssuedOnDateTime`.
    pub issued_at: i64,
    pub expires: i64,
    /// Unix seconds of the sign-in the grant descends from: the start of its sliding window.
    pub started: i64,
}

/// The applications that took part in one SSO session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClients {
    pub clients: Vec<String>,
    /// Unix seconds; as long as the session.
    pub expires: i64,
}

/// The tokens issued from one sign-in's refresh token, each redeemed for the next: only the
/// newest is valid, and presenting an older one revokes them all (it was stolen or replayed).
#[derive(Debug, Serialize, Deserialize)]
struct RefreshFamily {
    grant: RefreshGrant,
    /// SHA-256 of the current token's secret part.
    current: [u8; 32],
}

/// A refresh token being redeemed: its family's grant, held until [`State::rotate_refresh`]
/// or [`State::revoke_refresh`].
#[derive(Debug)]
pub struct RefreshRedemption {
    pub grant: RefreshGrant,
    family: String,
    version: u64,
}

/// What a refresh token handle finds.
#[derive(Debug)]
pub enum RefreshLookup {
    Valid(RefreshRedemption),
    /// No such family (never issued, expired or revoked).
    Unknown,
    /// An older token of a live family: the family is now revoked.
    Replayed,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "a stored record has format {found}; this ief reads format {STATE_FORMAT}, so the sign-in must start again"
    )]
    Format { found: u8 },
    #[error("a stored record does not decrypt with this server's {STATE_KEY} (another key, or altered)")]
    Decrypt,
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("no randomness for encryption")]
    Random,
}

/// The typed state over a store: every value sealed with the state key.
pub struct State {
    store: Arc<dyn Store>,
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("store", &self.store).finish_non_exhaustive()
    }
}

/// A client-held handle as stored: hashed, so the store holds nothing a client could redeem.
fn hashed(handle: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(handle.as_bytes()))
}

/// Bytes of a refresh token's family id and secret, each base64url.
const FAMILY_BYTES: usize = 16;
const FAMILY_CHARS: usize = 22;

impl State {
    /// `secret` is the state key's bytes.
    pub fn new(store: Arc<dyn Store>, secret: &[u8]) -> State {
        let digest = Sha256::digest(secret);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &digest).expect("a 32-byte key for AES-256-GCM"));
        State { store, key, random: SystemRandom::new() }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `format ‖ nonce ‖ AES-256-GCM(postcard(value))`, authenticated with the format, the
    /// kind and the key, so a record cannot be moved to another key.
    fn seal<T: Serialize>(&self, kind: Kind, key: &str, value: &T) -> Result<Vec<u8>, StateError> {
        let mut body = postcard::to_stdvec(value).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| StateError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len() + 16);
        out.push(STATE_FORMAT);
        out.extend_from_slice(&nonce);
        let aad = aad(&out[..1], kind, key);
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
            .map_err(|_| StateError::Decrypt)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open<T: DeserializeOwned>(&self, kind: Kind, key: &str, record: &[u8]) -> Result<T, StateError> {
        let header = 1;
        let Some(&format) = record.first() else { return Err(StateError::Corrupt("an empty record".to_owned())) };
        if format != STATE_FORMAT {
            return Err(StateError::Format { found: format });
        }
        if record.len() < header + NONCE_LEN {
            return Err(StateError::Corrupt("a truncated record".to_owned()));
        }
        let nonce = Nonce::try_assume_unique_for_key(&record[header..header + NONCE_LEN])
            .map_err(|_| StateError::Corrupt("a truncated record".to_owned()))?;
        let mut body = record[header + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(&record[..header], kind, key)), &mut body)
            .map_err(|_| StateError::Decrypt)?;
        postcard::from_bytes(plain).map_err(|e| StateError::Corrupt(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, kind: Kind, key: &str, now: i64) -> Result<Option<(T, u64)>, StateError> {
        match self.store.get(kind, key, now).await? {
            Some(record) => Ok(Some((self.open(kind, key, &record.value)?, record.version))),
            None => Ok(None),
        }
    }

    /// Writes `value` whatever is there (last writer wins).
    async fn put<T: Serialize>(
        &self,
        kind: Kind,
        key: &str,
        value: &T,
        expires: i64,
        now: i64,
    ) -> Result<(), StateError> {
        let bytes = self.seal(kind, key, value)?;
        // A few rounds: another writer may slip in between our read and our write.
        for _ in 0..8 {
            if self.store.create(kind, key, &bytes, expires, now).await?.is_some() {
                return Ok(());
            }
            if let Some(record) = self.store.get(kind, key, now).await?
                && self.store.update(kind, key, record.version, &bytes, expires, now).await?.is_some()
            {
                return Ok(());
            }
        }
        Err(StoreError::Backend { backend: "state", message: format!("'{key}' keeps changing under this write") }
            .into())
    }

    /// The sign-in `id`, with the version read, if it is in flight.
    pub async fn transaction(&self, id: &str, now: i64) -> Result<Option<Transaction>, StateError> {
        Ok(self.get::<Transaction>(Kind::SignIn, id, now).await?.map(|(mut tx, version)| {
            tx.version = version;
            tx
        }))
    }

    /// Stores the sign-in, passwords left out: `false` when another request saved it since this
    /// one read it (that request's answer stands). On success `tx.version` is the new version.
    pub async fn save_transaction(&self, tx: &mut Transaction, now: i64) -> Result<bool, StateError> {
        let bytes = self.seal(Kind::SignIn, &tx.id, tx)?;
        let version = match tx.version {
            0 => self.store.create(Kind::SignIn, &tx.id, &bytes, tx.expires, now).await?,
            v => self.store.update(Kind::SignIn, &tx.id, v, &bytes, tx.expires, now).await?,
        };
        Ok(version.inspect(|v| tx.version = *v).is_some())
    }

    /// Ends the sign-in: `false` when another request ended or changed it first.
    pub async fn end_transaction(&self, tx: &Transaction, now: i64) -> Result<bool, StateError> {
        match tx.version {
            0 => Ok(true),
            v => Ok(self.store.delete(Kind::SignIn, &tx.id, Some(v), now).await?),
        }
    }

    pub async fn put_code(&self, code: &str, grant: &CodeGrant, now: i64) -> Result<(), StateError> {
        let key = hashed(code);
        let bytes = self.seal(Kind::Code, &key, grant)?;
        self.store.create(Kind::Code, &key, &bytes, grant.expires, now).await?;
        Ok(())
    }

    /// Removes the code whether or not the redemption then succeeds: a code is tried once.
    pub async fn take_code(&self, code: &str, now: i64) -> Result<Option<CodeGrant>, StateError> {
        let key = hashed(code);
        match self.store.take(Kind::Code, &key, now).await? {
            Some(record) => Ok(Some(self.open(Kind::Code, &key, &record.value)?)),
            None => Ok(None),
        }
    }

    /// A new refresh-token family for `grant`: the token the client gets.
    pub async fn new_refresh(&self, grant: RefreshGrant, now: i64) -> Result<String, StateError> {
        let family = self.random_text(FAMILY_BYTES)?;
        let secret = self.random_text(32)?;
        let expires = grant.expires.saturating_add(REFRESH_GRACE_SECS);
        let value = RefreshFamily { grant, current: Sha256::digest(secret.as_bytes()).into() };
        let bytes = self.seal(Kind::RefreshFamily, &family, &value)?;
        self.store.create(Kind::RefreshFamily, &family, &bytes, expires, now).await?;
        Ok(format!("{family}{secret}"))
    }

    /// Looks a refresh token up; an older token of its family revokes the family.
    pub async fn redeem_refresh(&self, token: &str, now: i64) -> Result<RefreshLookup, StateError> {
        let Some((family, secret)) = token.split_at_checked(FAMILY_CHARS) else { return Ok(RefreshLookup::Unknown) };
        let Some((value, version)) = self.get::<RefreshFamily>(Kind::RefreshFamily, family, now).await? else {
            return Ok(RefreshLookup::Unknown);
        };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if !ief_protocols::federation::constant_time_eq(&presented, &value.current) {
            self.store.delete(Kind::RefreshFamily, family, None, now).await?;
            return Ok(RefreshLookup::Replayed);
        }
        Ok(RefreshLookup::Valid(RefreshRedemption { grant: value.grant, family: family.to_owned(), version }))
    }

    /// The family's next token, replacing the one redeemed, with `grant` (the refreshed claims);
    /// `None` when another redemption of the same token won.
    pub async fn rotate_refresh(
        &self,
        redemption: &RefreshRedemption,
        grant: RefreshGrant,
        now: i64,
    ) -> Result<Option<String>, StateError> {
        let secret = self.random_text(32)?;
        let expires = grant.expires.saturating_add(REFRESH_GRACE_SECS);
        let value = RefreshFamily { grant, current: Sha256::digest(secret.as_bytes()).into() };
        let family = &redemption.family;
        let bytes = self.seal(Kind::RefreshFamily, family, &value)?;
        let rotated = self.store.update(Kind::RefreshFamily, family, redemption.version, &bytes, expires, now).await?;
        Ok(rotated.map(|_| format!("{family}{secret}")))
    }

    /// Ends the family: none of its tokens is redeemable any more.
    pub async fn revoke_refresh(&self, redemption: &RefreshRedemption, now: i64) -> Result<(), StateError> {
        self.store.delete(Kind::RefreshFamily, &redemption.family, None, now).await?;
        Ok(())
    }

    /// Kept a day, or as long as a keep-me-signed-in cookie of it lasts.
    pub async fn put_session(&self, id: &str, session: &Session, now: i64) -> Result<(), StateError> {
        let last = session.expires().map_or(now, |t| t.and_utc().timestamp());
        self.put(Kind::Session, &hashed(id), session, last.max(now + SESSION_SECS), now).await
    }

    pub async fn session(&self, id: &str, now: i64) -> Result<Option<Session>, StateError> {
        Ok(self.get::<Session>(Kind::Session, &hashed(id), now).await?.map(|(s, _)| s))
    }

    pub async fn remove_session(&self, id: &str, now: i64) -> Result<(), StateError> {
        self.store.delete(Kind::Session, &hashed(id), None, now).await?;
        Ok(())
    }

    /// The client ids that signed in through the SSO session `id`, in order (front-channel
    /// sign-out calls the others' logout URLs); kept beside the session.
    pub async fn put_session_clients(&self, id: &str, clients: &SessionClients, now: i64) -> Result<(), StateError> {
        self.put(Kind::Session, &clients_key(id), clients, clients.expires, now).await
    }

    pub async fn session_clients(&self, id: &str, now: i64) -> Result<Option<SessionClients>, StateError> {
        Ok(self.get::<SessionClients>(Kind::Session, &clients_key(id), now).await?.map(|(c, _)| c))
    }

    pub async fn remove_session_clients(&self, id: &str, now: i64) -> Result<(), StateError> {
        self.store.delete(Kind::Session, &clients_key(id), None, now).await?;
        Ok(())
    }

    /// The developer page's step trace of the "Run now" sign-in `state`, for its result page
    /// (which any process sharing the store may serve); kept beside the codes.
    pub async fn put_trace(&self, state: &str, lines: &[String], now: i64) -> Result<(), StateError> {
        self.put(Kind::Code, &trace_key(state), &lines, now + TRACE_SECS, now).await
    }

    /// The trace kept for `state`, once.
    pub async fn take_trace(&self, state: &str, now: i64) -> Result<Option<Vec<String>>, StateError> {
        let key = trace_key(state);
        match self.store.take(Kind::Code, &key, now).await? {
            Some(record) => Ok(Some(self.open(Kind::Code, &key, &record.value)?)),
            None => Ok(None),
        }
    }

    /// Drops what expired (sign-ins abandoned, codes never redeemed, old replay guards).
    pub async fn expire(&self, now: i64) -> Result<u64, StateError> {
        Ok(self.store.expire(now).await?)
    }

    fn random_text(&self, bytes: usize) -> Result<String, StateError> {
        let mut buf = vec![0u8; bytes];
        self.random.fill(&mut buf).map_err(|_| StateError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }
}

/// The key of a "Run now" trace: among the codes, never equal to one (a code's key has no colon).
fn trace_key(state: &str) -> String {
    format!("trace:{}", hashed(state))
}

/// The key of a session's clients: beside the session's own, never equal to it.
fn clients_key(id: &str) -> String {
    format!("clients:{}", hashed(id))
}

fn aad(header: &[u8], kind: Kind, key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + 32 + key.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(kind.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(store: Arc<dyn Store>, secret: &[u8]) -> State {
        State::new(store, secret)
    }

    fn grant(expires: i64) -> CodeGrant {
        CodeGrant {
            client_id: "c".to_owned(),
            redirect_uri: "r".to_owned(),
            policy: "p".to_owned(),
            pkce: None,
            scope: "openid".to_owned(),
            id_token: "header.payload.signature".to_owned(),
            claims: serde_json::json!({ "sub": "someone", "emails": ["a@example.com"] }),
            expires,
        }
    }

    #[tokio::test]
    async fn records_are_encrypted_bound_to_their_key_and_refused_by_another_key_or_format() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = 1_000;
        let ours = state(store.clone(), b"secret");
        ours.put_code("the-code", &grant(now + 60), now).await.unwrap();
        let stored = store.get(Kind::Code, &hashed("the-code"), now).await.unwrap().unwrap();
        assert_eq!(stored.value[0], STATE_FORMAT);
        let text = String::from_utf8_lossy(&stored.value);
        assert!(!text.contains("someone") && !text.contains("header.payload"), "the grant is encrypted at rest");
        assert!(store.get(Kind::Code, "the-code", now).await.unwrap().is_none(), "the handle is stored hashed");

        // Moved to another key, the record no longer opens.
        store.create(Kind::Code, &hashed("other"), &stored.value, now + 60, now).await.unwrap();
        assert!(matches!(ours.take_code("other", now).await, Err(StateError::Decrypt)));

        let other_key = state(store.clone(), b"another secret");
        store.create(Kind::Code, &hashed("copy"), &stored.value, now + 60, now).await.unwrap();
        assert!(matches!(other_key.take_code("copy", now).await, Err(StateError::Decrypt)));

        let mut older = stored.value.clone();
        older[0] = STATE_FORMAT - 1;
        store.create(Kind::Code, &hashed("older"), &older, now + 60, now).await.unwrap();
        let error = ours.take_code("older", now).await.unwrap_err();
        assert!(matches!(error, StateError::Format { .. }), "{error}");
        assert!(error.to_string().contains("must start again"), "{error}");

        // Another process with the same key and policies reads it back whole, once.
        ours.put_code("again", &grant(now + 60), now).await.unwrap();
        let copy = state(store.clone(), b"secret");
        assert_eq!(copy.take_code("again", now).await.unwrap(), Some(grant(now + 60)), "read back whole");
        assert_eq!(copy.take_code("again", now).await.unwrap(), None, "once");
    }

    #[tokio::test]
    async fn a_run_now_trace_is_sealed_shared_and_taken_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = 1_000;
        let lines = vec!["Step 1: CombinedSignInAndSignUp".to_owned(), "Sent claims to the application".to_owned()];
        state(store.clone(), b"secret").put_trace("the-state", &lines, now).await.unwrap();
        let stored = store.get(Kind::Code, &trace_key("the-state"), now).await.unwrap().expect("stored");
        assert!(!String::from_utf8_lossy(&stored.value).contains("CombinedSignIn"), "sealed");
        let other = state(store.clone(), b"secret");
        assert_eq!(other.take_code("the-state", now).await.unwrap(), None, "not a code");
        assert_eq!(other.take_trace("the-state", now).await.unwrap(), Some(lines), "another process reads it");
        assert_eq!(other.take_trace("the-state", now).await.unwrap(), None, "once");
        state(store.clone(), b"secret").put_trace("late", &[], now).await.unwrap();
        assert_eq!(other.take_trace("late", now + TRACE_SECS).await.unwrap(), None, "expired");
    }

    fn refresh(expires: i64) -> RefreshGrant {
        RefreshGrant {
            client_id: "c".to_owned(),
            policy: "p".to_owned(),
            scope: "openid offline_access".to_owned(),
            claims: serde_json::json!({ "sub": "someone" }),
            user: Some("someone".to_owned()),
            issued_at: 0,
            expires,
            started: 0,
        }
    }

    #[tokio::test]
    async fn a_refresh_family_rotates_and_an_old_token_revokes_it() {
        let state = state(Arc::new(MemoryStore::new()), b"secret");
        let now = 1_000;
        let first = state.new_refresh(refresh(now + 600), now).await.unwrap();
        let RefreshLookup::Valid(redemption) = state.redeem_refresh(&first, now).await.unwrap() else {
            panic!("a new token is valid")
        };
        assert_eq!(redemption.grant.user.as_deref(), Some("someone"));
        let second = state.rotate_refresh(&redemption, refresh(now + 600), now).await.unwrap().expect("rotated");
        assert!(state.rotate_refresh(&redemption, refresh(now + 600), now).await.unwrap().is_none(), "once");
        assert!(matches!(state.redeem_refresh(&second, now).await.unwrap(), RefreshLookup::Valid(_)));
        assert!(matches!(state.redeem_refresh(&first, now).await.unwrap(), RefreshLookup::Replayed));
        assert!(
            matches!(state.redeem_refresh(&second, now).await.unwrap(), RefreshLookup::Unknown),
            "the replay of an old token revoked the whole family"
        );
        assert!(matches!(state.redeem_refresh("short", now).await.unwrap(), RefreshLookup::Unknown));
    }
}
