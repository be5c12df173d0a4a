-- The lab's store.  Secrets never appear in clear: passwords are scrypt
-- hashes, client secrets, authorization codes and tokens are SHA-256 digests.
PRAGMA foreign_keys = ON;

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'staff')),
    plan          TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro')),
    print_credits INTEGER NOT NULL DEFAULT 0 CHECK (print_credits >= 0)
);

CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    public         INTEGER NOT NULL,
    secret_digest  TEXT,                 -- NULL for public clients
    redirect_uris  TEXT NOT NULL,        -- JSON list, matched exactly
    scopes         TEXT NOT NULL,        -- space-separated: what it may ask for
    grant_types    TEXT NOT NULL,        -- space-separated
    introspect_any INTEGER NOT NULL DEFAULT 0,
    token_format   TEXT NOT NULL DEFAULT 'opaque' CHECK (token_format IN ('opaque', 'jwt')),  -- its access tokens
    audience       TEXT,                 -- JWT access tokens' aud (NULL: the lab's API)
    access_ttl     INTEGER               -- its access tokens' lifetime in seconds (NULL: the lab's)
);

-- One grant is one consent by one user to one client (or one client
-- credentials issuance): the family every token descends from.
CREATE TABLE grants (
    id             INTEGER PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id),
    username       TEXT REFERENCES users(username),
    grant_type     TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    granted_at     REAL NOT NULL,
    last_used_at   REAL,
    revoked_at     REAL,
    revoked_reason TEXT
);

CREATE TABLE codes (
    digest                TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    username              TEXT NOT NULL,
    redirect_uri          TEXT,
    scopes                TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    issued_at             REAL NOT NULL,
    expires_at            REAL NOT NULL,
    used_at               REAL,                 -- claimed by the one token request that redeemed it
    replayed_at           REAL,                 -- first time it came back after that (RFC 6749 s4.1.2)
    grant_id              INTEGER REFERENCES grants(id)
);

CREATE TABLE tokens (
    digest     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    grant_id   INTEGER NOT NULL REFERENCES grants(id),
    client_id  TEXT NOT NULL,
    username   TEXT,
    scopes     TEXT NOT NULL,
    issued_at  REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    rotated_at REAL                    -- refresh tokens: when a refresh request claimed it (single use)
);
CREATE INDEX tokens_by_grant ON tokens(grant_id);

-- What happened to each grant, for timelines and the connected-apps view.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        REAL NOT NULL,
    grant_id  INTEGER,
    client_id TEXT,
    username  TEXT,
    event     TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    code      TEXT                       -- digest of the code a consent issued, to join its grant later
);

CREATE TABLE photos (
    id     INTEGER PRIMARY KEY,
    owner  TEXT NOT NULL REFERENCES users(username),
    title  TEXT NOT NULL,
    taken  TEXT NOT NULL
);

CREATE TABLE messages (
    id     INTEGER PRIMARY KEY,
    owner  TEXT NOT NULL REFERENCES users(username),
    sender TEXT NOT NULL,
    text   TEXT NOT NULL
);

CREATE TABLE payments (
    owner        TEXT PRIMARY KEY REFERENCES users(username),
    card_holder  TEXT NOT NULL,
    card_last4   TEXT NOT NULL,
    expiry       TEXT NOT NULL,
    billing_city TEXT NOT NULL
);

-- The authorization server's sign-in sessions: a browser that ticked "stay signed in" holds the
-- token in a cookie; the store keeps its SHA-256 digest.
CREATE TABLE sign_ins (
    digest     TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

-- What a signed-in user allowed each client (remembered consent): with a sign-in session, a
-- confidential client asking for no more than this is authorized without a prompt.
CREATE TABLE consents (
    username   TEXT NOT NULL REFERENCES users(username),
    client_id  TEXT NOT NULL REFERENCES clients(client_id),
    scopes     TEXT NOT NULL,
    granted_at REAL NOT NULL,
    PRIMARY KEY (username, client_id)
);

-- The print shop (notebook 08): coupons, who redeemed them, and print orders sent to the print partner.
CREATE TABLE coupons (
    code        TEXT PRIMARY KEY,
    credits     INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE redemptions (
    id       INTEGER PRIMARY KEY,
    code     TEXT NOT NULL REFERENCES coupons(code),
    username TEXT NOT NULL REFERENCES users(username),
    at       REAL NOT NULL
);
CREATE INDEX redemptions_by_account ON redemptions(code, username);

CREATE TABLE prints (
    id            INTEGER PRIMARY KEY,
    owner         TEXT NOT NULL REFERENCES users(username),
    photo_id      INTEGER NOT NULL,
    copies        INTEGER NOT NULL,
    paid_with     TEXT NOT NULL,          -- 'credits' or 'card'
    partner_order TEXT NOT NULL,          -- what the print partner called it
    status        TEXT NOT NULL,
    price_cents   INTEGER NOT NULL,
    at            REAL NOT NULL
);
