//! The basic-auth app (`--app-name basic-auth`): who is calling and whether they may.
//!
//! [`Auth`] holds the settings and the user store, hashes and checks passwords (argon2, in a
//! blocking task, compared in constant time by the hash's verifier), API tokens and the web
//! UI's sessions (both stored as the SHA-256 of their secret, in the auth store: sessions
//! survive a restart and every server on the database accepts them), and slows down repeated
//! failed logins per user and address. `middleware` runs
//! before every route: it authenticates, looks the route up in `rules` (the table that says
//! what each route needs) and answers 401/403 itself; `routes/auth.rs` serves the users API.

pub(crate) mod middleware;
pub(crate) mod rules;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ferroflow_core::auth::{validate_new_user, Permission, UiSession, User};
use ferroflow_core::store::{Access, Store};
use ferroflow_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The signed-in caller, for handlers that act on "me" (the users API).
#[derive(Debug, Clone)]
pub struct Caller(pub User);

/// The settings of MLflow's `basic_auth.ini` that ferroflow uses.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// What a user may do on a resource nobody granted them anything on.
    pub default_permission: Permission,
    pub admin_username: String,
    /// Used once, to create the admin in an empty user store.
    pub admin_password: String,
}

impl AuthSettings {
    /// Reads MLflow's ini text (`[mlflow]` section) with the `MLFLOW_AUTH_ADMIN_*` overrides
    /// (an override that is set wins even when empty, as in MLflow). Refuses a missing admin
    /// password or one shorter than 12 characters. Returns the settings and `database_uri`.
    pub fn from_ini(
        text: &str,
        admin_username_env: Option<String>,
        admin_password_env: Option<String>,
    ) -> Result<(AuthSettings, Option<String>)> {
        let values = ini_section(text, "mlflow");
        let value = |key: &str| values.get(key).cloned().filter(|v| !v.is_empty());
        let default_permission = Permission::parse(&value("default_permission").unwrap_or_else(|| "READ".into()))?;
        let admin_username = match admin_username_env {
            Some(name) => Some(name).filter(|n| !n.is_empty()),
            None => value("admin_username"),
        }
        .unwrap_or_else(|| "admin".to_string());
        let admin_password = match admin_password_env {
            Some(password) => Some(password).filter(|p| !p.is_empty()),
            None => value("admin_password"),
        }
        .ok_or_else(|| {
            Error::invalid(
                "No admin password: set admin_password in the file MLFLOW_AUTH_CONFIG_PATH names, or \
                 MLFLOW_AUTH_ADMIN_PASSWORD (at least 12 characters). There is no default password.",
            )
        })?;
        validate_new_user(&admin_username, &admin_password)
            .map_err(|e| Error::invalid(format!("The admin password is not acceptable: {}", e.message)))?;
        Ok((AuthSettings { default_permission, admin_username, admin_password }, value("database_uri")))
    }
}

/// `key = value` lines of one `[section]` of an ini text; `#`/`;` lines are comments.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut inside = false;
    let mut values = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) {
                values.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
    }
    values
}

/// The auth app's state, shared by the middleware and the users API.
pub struct Auth {
    pub store: Arc<dyn Store>,
    pub settings: AuthSettings,
    failures: Mutex<HashMap<(String, Option<IpAddr>), Failures>>,
    /// Credentials checked recently: username → (SHA-256 of the password, the stored hash it
    /// was checked against). Spares an argon2 run per request; a changed stored hash (a new
    /// password) no longer matches, so nothing needs invalidating.
    verified: Mutex<HashMap<String, ([u8; 32], String)>>,
    /// The hash of a random password, checked when the user does not exist so that the
    /// answer takes as long as for a wrong password (timing tells no names).
    dummy_hash: String,
}

/// A UI session ends after this long without a request, or this long after sign-in.
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
pub const SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's `last_seen` is written at most this often (not one write per page).
const SESSION_TOUCH_EVERY: Duration = Duration::from_secs(60);

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What a session keeps of the password hash at sign-in: a new password no longer matches.
fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(Sha256::digest(format!("ferroflow-session:{password_hash}").as_bytes()))
}

/// The name of the UI's session cookie.
pub const SESSION_COOKIE: &str = "ferroflow_session";

struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins are forgotten after this long without another.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("settings.default_permission", &self.settings.default_permission).finish()
    }
}

impl Auth {
    /// Makes the auth app over `store`, creating the admin user when it does not exist yet
    /// (its password is used only then; rotate it with update-password).
    pub async fn start(store: Arc<dyn Store>, settings: AuthSettings) -> Result<Auth> {
        match store.get_user(&settings.admin_username).await {
            Ok(_) => {}
            Err(error) if error.is_not_found() => {
                let hash = hash_password(settings.admin_password.clone()).await?;
                match store.create_user(&settings.admin_username, &hash, true).await {
                    Ok(_) => {}
                    // Another process created it between our two statements.
                    Err(error) if error.code == ferroflow_core::ErrorCode::ResourceAlreadyExists => {}
                    Err(error) => return Err(error),
                }
            }
            Err(error) => return Err(error),
        }
        let dummy_hash = hash_password(new_token_secret()).await?;
        let auth = Auth { store, settings, failures: Mutex::default(), verified: Mutex::default(), dummy_hash };
        auth.remove_expired_sessions().await?;
        Ok(auth)
    }

    /// What `user` may see, for the handlers and the web UI. `session` is the secret of the
    /// user's UI session when they came with its cookie: the CSRF token of their forms is
    /// derived from it (else from the user and their password hash, which a new password
    /// changes). Both are secrets no other site knows, and the same on every server, so a
    /// form shown by one replica may be posted to another.
    pub fn access(&self, user: User, session: Option<&str>) -> Access {
        let source = match session {
            Some(session) => format!("ferroflow-csrf:session:{session}"),
            None => format!("ferroflow-csrf:user:{}:{}", user.id, user.password_hash),
        };
        let csrf = hex::encode(Sha256::digest(source.as_bytes()));
        Access::new(self.store.clone(), user, self.settings.default_permission, csrf, session.is_some())
    }

    /// Starts a UI session for `user` in the store; the secret to put in the session cookie.
    /// Expired sessions are removed on the way.
    pub async fn start_session(&self, user: &User) -> Result<String> {
        self.remove_expired_sessions().await?;
        let secret = new_token_secret();
        let now = ferroflow_core::time::now_millis();
        let session = UiSession {
            user_id: user.id,
            password_fingerprint: password_fingerprint(&user.password_hash),
            started: now,
            last_seen: now,
        };
        self.store.create_session(&token_hash(&secret), &session).await?;
        Ok(secret)
    }

    /// Removes the sessions idle or older than their limits.
    async fn remove_expired_sessions(&self) -> Result<()> {
        let now = ferroflow_core::time::now_millis();
        let removed = self.store.delete_expired_sessions(now - millis(SESSION_IDLE), now - millis(SESSION_MAX)).await?;
        if removed > 0 {
            tracing::debug!(removed, "removed expired UI sessions");
        }
        Ok(())
    }

    /// The user of a live session, as stored now (a deleted user, a new password or an
    /// expired session ends it).
    pub async fn session_user(&self, secret: &str) -> Result<Option<User>> {
        let key = token_hash(secret);
        let Some((session, user)) = self.store.find_session(&key).await? else { return Ok(None) };
        let now = ferroflow_core::time::now_millis();
        let expired = now - session.last_seen >= millis(SESSION_IDLE) || now - session.started >= millis(SESSION_MAX);
        let fingerprint = password_fingerprint(&user.password_hash);
        if expired || !bool::from(fingerprint.as_bytes().ct_eq(session.password_fingerprint.as_bytes())) {
            self.store.delete_session(&key).await?;
            return Ok(None);
        }
        if now - session.last_seen >= millis(SESSION_TOUCH_EVERY) {
            self.store.touch_session(&key, now).await?;
        }
        Ok(Some(user))
    }

    pub async fn end_session(&self, secret: &str) -> Result<()> {
        self.store.delete_session(&token_hash(secret)).await
    }

    /// The user whose name and password these are, or `None`. Failures for the same user from
    /// the same address wait longer each time (up to 5 s), which slows guessing to a crawl.
    pub async fn login(&self, username: &str, password: &str, peer: Option<IpAddr>) -> Result<Option<User>> {
        let key = (username.to_string(), peer);
        let delay = self.failure_delay(&key);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let user = match self.store.get_user(username).await {
            Ok(user) => Some(user),
            Err(error) if error.is_not_found() => None,
            Err(error) => return Err(error),
        };
        let ok = match &user {
            Some(user) => self.check_password(user, password).await?,
            None => {
                let _ = verify_password(password.to_string(), self.dummy_hash.clone()).await;
                false
            }
        };
        if ok {
            self.lock_failures().remove(&key);
            Ok(user)
        } else {
            self.record_failure(key);
            Ok(None)
        }
    }

    async fn check_password(&self, user: &User, password: &str) -> Result<bool> {
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let cached = self.lock_verified().get(&user.username).cloned();
        if let Some((known, stored)) = cached {
            if stored == user.password_hash && bool::from(known.ct_eq(&digest)) {
                return Ok(true);
            }
        }
        let ok = verify_password(password.to_string(), user.password_hash.clone()).await?;
        if ok {
            let mut verified = self.lock_verified();
            if verified.len() > 10_000 {
                verified.clear();
            }
            verified.insert(user.username.clone(), (digest, user.password_hash.clone()));
        }
        Ok(ok)
    }

    /// Whether `password` is the user's current one (for self-service password changes).
    pub async fn password_matches(&self, user: &User, password: &str) -> Result<bool> {
        self.check_password(user, password).await
    }

    fn failure_delay(&self, key: &(String, Option<IpAddr>)) -> Duration {
        match self.lock_failures().get(key) {
            Some(failures) if failures.last.elapsed() < FAILURE_MEMORY && failures.count >= 3 => {
                Duration::from_millis(100u64.saturating_mul(1 << (failures.count - 3).min(6)))
                    .min(Duration::from_secs(5))
            }
            _ => Duration::ZERO,
        }
    }

    fn record_failure(&self, key: (String, Option<IpAddr>)) {
        let mut failures = self.lock_failures();
        if failures.len() > 10_000 {
            failures.retain(|_, f| f.last.elapsed() < FAILURE_MEMORY);
        }
        let entry = failures.entry(key).or_insert(Failures { count: 0, last: Instant::now() });
        if entry.last.elapsed() >= FAILURE_MEMORY {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = Instant::now();
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<IpAddr>), Failures>> {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, ([u8; 32], String)>> {
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The user an API token's secret belongs to.
    pub async fn token_user(&self, secret: &str) -> Result<Option<User>> {
        Ok(self.store.find_token(&token_hash(secret)).await?.map(|(_, user)| user))
    }
}

/// Hashes a password with argon2id and a fresh salt, off the async threads (it takes tens of ms).
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("the hashing task: {e}")))?
}

/// Checks a password against a stored PHC hash (argon2's verifier compares in constant time).
async fn verify_password(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let Ok(hash) = PasswordHash::new(&stored) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &hash).is_ok()
    })
    .await
    .map_err(|e| Error::internal(format!("the password check task: {e}")))
}

/// A new API token's secret: 32 random bytes, hex, behind a prefix that says what it is.
pub fn new_token_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("ffat_{}", hex::encode(bytes))
}

/// How a token is stored and looked up: its SHA-256, hex. The secret has 256 random bits, so
/// a fast hash is enough (nothing to guess), and lookup by hash needs no comparison of ours.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ini_needs_an_admin_password_of_twelve_characters() {
        let ini =
            "[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///basic_auth.db\nadmin_username = admin\n";
        assert!(AuthSettings::from_ini(ini, None, None).is_err());
        assert!(AuthSettings::from_ini(ini, None, Some("short".into())).is_err());
        let with_password = format!("{ini}admin_password = a-long-password\n");
        let (settings, db) = AuthSettings::from_ini(&with_password, None, None).unwrap();
        assert_eq!(settings.admin_password, "a-long-password");
        assert_eq!(db.as_deref(), Some("sqlite:///basic_auth.db"));
        // A set but empty variable wins over the file, and is refused.
        assert!(AuthSettings::from_ini(&with_password, None, Some(String::new())).is_err());
        let (settings, _) = AuthSettings::from_ini(ini, Some("root".into()), Some("another-long-one".into())).unwrap();
        assert_eq!(settings.admin_username, "root");
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await.unwrap());
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
        assert!(!verify_password("x".into(), "not a hash".into()).await.unwrap());
    }
}
