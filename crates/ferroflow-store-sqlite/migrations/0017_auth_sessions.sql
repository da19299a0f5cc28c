-- The web UI's sign-in sessions: the SHA-256 of the cookie's secret (never the secret), the
-- user, a fingerprint of their password hash at sign-in (a new password ends the session) and
-- the times the session started and was last seen (ms since the epoch). Kept in the store so
-- that sessions survive a restart and every server on the database accepts them.
CREATE TABLE auth_sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    password_fingerprint TEXT NOT NULL,
    started INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX auth_sessions_last_seen ON auth_sessions (last_seen);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
