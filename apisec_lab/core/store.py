"""The lab's SQLite store: schema, seeding and every query the lab makes.

One :class:`Store` per lab, one file per store (so two kernels on one machine
never share state), one connection guarded by a lock (the servers' threads
take turns; each statement is microseconds).  The OAuth request validator,
the resource API and the lab facade all go through the named methods here,
each a fixed, parameterised statement, so no SQL lives anywhere else (a test
may still open the file read-only to look).
"""
from __future__ import annotations

import collections
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from . import crypto
from .clock import LabClock

SCHEMA = Path(__file__).with_name("schema.sql")
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Client:
    """A registered OAuth client, as the authorization server sees it."""

    client_id: str
    name: str
    description: str
    public: bool
    secret_digest: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    introspect_any: bool
    token_format: str = "opaque"       # "jwt": RFC 9068 access tokens
    audience: str | None = None        # their aud (None: the lab's API)
    access_ttl: int | None = None      # their lifetime (None: the lab's)


@dataclass(frozen=True)
class Credentials:
    """What :meth:`Lab.register_client` hands back: the only time a secret is seen."""

    client_id: str
    client_secret: str | None
    name: str = ""

    def __repr__(self) -> str:  # keep secrets out of accidental prints
        shown = "None" if self.client_secret is None else "'***'"
        return f"Credentials(client_id={self.client_id!r}, client_secret={shown})"


def load_seed(data_dir: Path = DATA_DIR) -> dict:
    """Read the seed files in ``data/`` into one dict."""
    seed = {}
    for name in ("users", "clients", "scopes", "resources"):
        with open(data_dir / f"{name}.json", encoding="utf-8") as f:
            doc = json.load(f)
        doc.pop("_comment", None)
        seed.update(doc if name == "resources" else {name: doc[name]})
    return seed


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


class Store:
    """All persistence for one lab."""

    def __init__(self, path: Path, clock: LabClock, seed: dict | None = None):
        self.path = Path(path)
        self.clock = clock
        self.seed = seed if seed is not None else load_seed()
        self.lock = threading.RLock()
        # Readable by this account only (the store holds hashes and digests, still nobody else's business):
        # create the file 0600 before SQLite opens it, whatever the umask says.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # A lab store lives and dies with its lab: durability buys nothing and
        # an fsync per request would dominate the API's latency.
        self.db.execute("PRAGMA journal_mode = MEMORY")
        self.db.execute("PRAGMA synchronous = OFF")
        self._client_secrets: dict[str, str] = {}
        self._uses: collections.deque = collections.deque()

    # -- lifecycle -------------------------------------------------------
    def init(self, apps_url: str, web_url: str = "") -> dict[str, Credentials]:
        """Create the schema and load the seed; return the seeded clients' credentials.

        ``{apps_url}`` and ``{web_url}`` in the seeded redirect URIs become the
        apps' server and PhotoPrint's website.  Confidential clients get fresh
        random secrets the first time; a later :meth:`init` (a lab reset)
        reuses them, so app objects that hold them keep working.
        """
        with self.lock:
            tables = [r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")]
            self._uses.clear()
            self.db.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                self.db.execute(f'DROP TABLE "{table}"')
            self.db.executescript(SCHEMA.read_text())
            seed = self.seed
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO users (username, display_name, email, password_hash)"
                " VALUES (:username, :display_name, :email, :password_hash)", seed["users"])
            creds = {}
            for c in seed["clients"]:
                secret = None
                if not c["public"]:
                    secret = self._client_secrets.setdefault(c["client_id"], secrets.token_urlsafe(32))
                self._insert_client(
                    c["client_id"], c["name"], c.get("description", ""), c["public"],
                    secret, [u.replace("{apps_url}", apps_url).replace("{web_url}", web_url)
                             for u in c["redirect_uris"]],
                    c["scopes"], c["grant_types"], c.get("introspect_any", False))
                creds[c["client_id"]] = Credentials(c["client_id"], secret, c["name"])
            self.db.executemany("INSERT INTO photos VALUES (:id, :owner, :title, :taken)", seed["photos"])
            self.db.executemany("INSERT INTO messages VALUES (:id, :owner, :sender, :text)", seed["messages"])
            self.db.executemany(
                "INSERT INTO payments VALUES (:owner, :card_holder, :card_last4, :expiry, :billing_city)",
                seed["payments"])
            self.db.executemany("INSERT INTO coupons VALUES (:code, :credits, :description)",
                                seed.get("coupons", []))
            self.db.execute("COMMIT")
        return creds

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- users -----------------------------------------------------------
    def user(self, username: str) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()

    def check_password(self, username: str, password: str) -> bool:
        """True if *password* is *username*'s; as slow for unknown users as for known ones."""
        row = self.user(username)
        return crypto.verify_password(password, row["password_hash"] if row else None)

    def add_user(self, username: str, password: str, display_name: str = "", email: str = "") -> None:
        if not username or not password:
            raise ValueError("a user needs a username and a password")
        encoded = crypto.hash_password(password)
        with self.lock:
            try:
                self.db.execute("INSERT INTO users (username, display_name, email, password_hash) VALUES (?, ?, ?, ?)",
                                (username, display_name or username.title(), email, encoded))
            except sqlite3.IntegrityError:
                raise ValueError(f"user {username!r} already exists") from None

    def set_password(self, username: str, password: str) -> None:
        encoded = crypto.hash_password(password)
        with self.lock:
            cur = self.db.execute("UPDATE users SET password_hash = ? WHERE username = ?", (encoded, username))
            if cur.rowcount != 1:
                raise KeyError(username)

    # -- clients ---------------------------------------------------------
    def _insert_client(self, client_id, name, description, public, secret, redirect_uris,
                       scopes, grant_types, introspect_any=False, token_format="opaque", audience=None,
                       access_ttl=None) -> None:
        self.db.execute(
            "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (client_id, name, description, int(bool(public)),
             None if secret is None else crypto.digest(secret),
             json.dumps(list(redirect_uris)), " ".join(scopes), " ".join(grant_types),
             int(bool(introspect_any)), token_format, audience, access_ttl))

    def register_client(self, name, redirect_uris, scopes, grant_types, public, description="",
                        token_format="opaque", audience=None, access_ttl=None) -> Credentials:
        known = set(self.scope_descriptions())
        unknown = [s for s in scopes if s not in known]
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; the lab knows {sorted(known)}")
        # "password" may be registered at any time; the server honours it only while the
        # password_grant weakness is on (RFC 9700 s2.4).
        allowed = {"authorization_code", "refresh_token", "client_credentials", "password"}
        if not set(grant_types) <= allowed:
            raise ValueError(f"unsupported grant types {sorted(set(grant_types) - allowed)}")
        if public and "client_credentials" in grant_types:
            raise ValueError("a public client cannot use client credentials: it has no secret")
        if token_format not in ("opaque", "jwt"):
            raise ValueError(f"token_format is 'opaque' or 'jwt' (RFC 9068), not {token_format!r}")
        if audience is not None and (token_format != "jwt" or not isinstance(audience, str) or not audience):
            raise ValueError("audience names the API a JWT access token is for: a non-empty string, "
                             "with token_format='jwt'")
        if access_ttl is not None and (isinstance(access_ttl, bool) or not isinstance(access_ttl, int)
                                       or access_ttl <= 0):
            raise ValueError(f"access_ttl is a whole number of seconds above 0, not {access_ttl!r}")
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "client"
        client_id = f"{slug[:24]}-{secrets.token_hex(3)}"
        redirect_uris = [u.replace("{client_id}", client_id) for u in redirect_uris]   # an id not known before
        secret = None if public else secrets.token_urlsafe(32)
        with self.lock:
            self._insert_client(client_id, name, description, public, secret, redirect_uris, scopes, grant_types,
                                token_format=token_format, audience=audience, access_ttl=access_ttl)
        return Credentials(client_id, secret, name)

    def client(self, client_id: str | None) -> Client | None:
        if not client_id:
            return None
        with self.lock:
            row = self.db.execute("SELECT * FROM clients WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            return None
        return Client(row["client_id"], row["name"], row["description"], bool(row["public"]),
                      row["secret_digest"], tuple(json.loads(row["redirect_uris"])),
                      _split(row["scopes"]), _split(row["grant_types"]), bool(row["introspect_any"]),
                      row["token_format"], row["audience"], row["access_ttl"])

    def scope_descriptions(self) -> dict[str, str]:
        return dict(self.seed["scopes"])

    # -- authorization codes --------------------------------------------
    def save_code(self, code, client_id, username, redirect_uri, scopes, challenge, method, ttl) -> None:
        now = self.clock.now()
        with self.lock:
            self.db.execute(
                "INSERT INTO codes (digest, client_id, username, redirect_uri, scopes, code_challenge,"
                " code_challenge_method, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (crypto.digest(code), client_id, username, redirect_uri, " ".join(scopes),
                 challenge, method, now, now + ttl))

    def code(self, code: str) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute("SELECT * FROM codes WHERE digest = ?", (crypto.digest(code),)).fetchone()

    def claim_code(self, code: str) -> bool:
        """Mark *code* used in one statement; True only for the one caller whose statement did.

        RFC 6749 s4.1.2: "The client MUST NOT use the authorization code more
        than once."  Two token requests that validated the same code at the
        same moment both get here; exactly one of them sees a row count of 1.
        """
        with self.lock:
            cur = self.db.execute("UPDATE codes SET used_at = ? WHERE digest = ? AND used_at IS NULL",
                                  (self.clock.now(), crypto.digest(code)))
            return cur.rowcount == 1

    def code_replayed(self, code: str, detail: str) -> int | None:
        """A used *code* came back: mark it, log ``code_replayed``; return the grant it became, if any yet.

        The first redemption may still be running (claimed, grant not yet
        created): then this returns None and :meth:`link_code_to_grant`, which
        reads the mark under the same lock, tells that redemption to revoke its
        own grant.  Either way the grant ends revoked.
        """
        code_digest = crypto.digest(code)
        with self.lock:
            self.db.execute("UPDATE codes SET replayed_at = ? WHERE digest = ? AND replayed_at IS NULL",
                            (self.clock.now(), code_digest))
            row = self.db.execute("SELECT client_id, username, grant_id FROM codes WHERE digest = ?",
                                  (code_digest,)).fetchone()
            if row is None:
                return None
            self.log("code_replayed", row["grant_id"], row["client_id"], row["username"], detail, code=code)
            return row["grant_id"]

    def link_code_to_grant(self, code: str, grant_id: int) -> bool:
        """The code became a grant: the code and its events (consent, replays) now belong to it.

        True if the code was replayed before the grant existed: the caller
        must revoke the grant (see :meth:`code_replayed`).
        """
        code_digest = crypto.digest(code)
        with self.lock:
            self.db.execute("UPDATE codes SET grant_id = ? WHERE digest = ?", (grant_id, code_digest))
            self.db.execute("UPDATE events SET grant_id = ? WHERE code = ?", (grant_id, code_digest))
            row = self.db.execute("SELECT replayed_at FROM codes WHERE digest = ?", (code_digest,)).fetchone()
            return row is not None and row["replayed_at"] is not None

    # -- grants and tokens ----------------------------------------------
    def new_grant(self, client_id, username, grant_type, scopes) -> int:
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO grants (client_id, username, grant_type, scopes, granted_at) VALUES (?, ?, ?, ?, ?)",
                (client_id, username, grant_type, " ".join(scopes), self.clock.now()))
            return cur.lastrowid

    def grant(self, grant_id: int) -> sqlite3.Row | None:
        with self.lock:
            self._write_uses()
            return self.db.execute("SELECT * FROM grants WHERE id = ?", (grant_id,)).fetchone()

    def save_token(self, token, kind, grant_id, client_id, username, scopes, ttl) -> None:
        now = self.clock.now()
        with self.lock:
            self.db.execute(
                "INSERT INTO tokens (digest, kind, grant_id, client_id, username, scopes, issued_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (crypto.digest(token), kind, grant_id, client_id, username, " ".join(scopes),
                 now, None if ttl is None else now + ttl))

    def token(self, token: str, kind: str | None = None) -> sqlite3.Row | None:
        """The token's row joined with its grant's state, or None."""
        sql = ("SELECT t.*, g.revoked_at AS grant_revoked_at, g.revoked_reason AS grant_revoked_reason"
               " FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.digest = ?")
        args: tuple = (crypto.digest(token),)
        if kind:
            sql += " AND t.kind = ?"
            args += (kind,)
        with self.lock:
            return self.db.execute(sql, args).fetchone()

    def token_state(self, row: sqlite3.Row | None) -> str:
        """'active', 'unknown', 'revoked', 'rotated' or 'expired'."""
        if row is None:
            return "unknown"
        if row["revoked_at"] is not None or row["grant_revoked_at"] is not None:
            return "revoked"
        if row["rotated_at"] is not None:
            return "rotated"
        if row["expires_at"] is not None and self.clock.now() >= row["expires_at"]:
            return "expired"
        return "active"

    def claim_refresh_token(self, token: str) -> bool:
        """Rotate *token* out in one statement; True only for the one caller whose statement did.

        RFC 9700 s4.14.2: each refresh token is good for one refresh.  The
        token must still be active (not rotated, revoked or expired, its grant
        not revoked); two refreshes that validated it at the same moment both
        get here, and exactly one sees a row count of 1.
        """
        now = self.clock.now()
        with self.lock:
            cur = self.db.execute(
                "UPDATE tokens SET rotated_at = ? WHERE digest = ? AND kind = 'refresh' AND rotated_at IS NULL"
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
                " AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL)",
                (now, crypto.digest(token), now))
            return cur.rowcount == 1

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.db.execute("UPDATE tokens SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL",
                            (self.clock.now(), crypto.digest(token)))

    def revoke_grant(self, grant_id: int, reason: str) -> bool:
        """Revoke a grant and, through it, every token of its family; log a ``revoked`` event.

        True if it was active.  Every revocation path (the user, the client,
        replay and reuse detection, an administrator) comes through here.
        """
        now = self.clock.now()
        with self.lock:
            cur = self.db.execute(
                "UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
                (now, reason, grant_id))
            if cur.rowcount != 1:
                return False
            self.db.execute("UPDATE tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
                            (now, grant_id))
            grant = self.grant(grant_id)
            self.log("revoked", grant_id, grant["client_id"], grant["username"], reason)
            return True

    def record_use(self, grant_id: int, client_id: str, username: str | None, detail: str) -> None:
        """Note that a token of *grant_id* was just used: a ``used`` event and the grant's last use.

        The API calls this on every request, so it only queues the record
        (stamped now); the rows are written before anything reads grants or
        events, or logs another event, so order and times are exact.
        """
        self._uses.append((self.clock.now(), grant_id, client_id, username, detail))

    def _write_uses(self) -> None:
        """Write queued uses (call with the lock held)."""
        while self._uses:
            at, grant_id, client_id, username, detail = self._uses.popleft()
            self.db.execute("UPDATE grants SET last_used_at = ? WHERE id = ?", (at, grant_id))
            self.db.execute(
                "INSERT INTO events (at, grant_id, client_id, username, event, detail) VALUES (?, ?, ?, ?, 'used', ?)",
                (at, grant_id, client_id, username, detail))

    def active_grants(self, username: str | None = None, client_id: str | None = None) -> list[sqlite3.Row]:
        sql = ("SELECT g.*, c.name AS client_name FROM grants g JOIN clients c USING (client_id)"
               " WHERE g.revoked_at IS NULL")
        args: list = []
        if username is not None:
            sql += " AND g.username = ?"
            args.append(username)
        if client_id is not None:
            sql += " AND g.client_id = ?"
            args.append(client_id)
        with self.lock:
            self._write_uses()
            return self.db.execute(sql + " ORDER BY g.id", args).fetchall()

    # -- the authorization server's sign-in sessions and remembered consent ---------
    def new_sign_in(self, username: str, ttl: float) -> str:
        """Start a sign-in session for *username*; return its token (the cookie's value), kept as a digest."""
        token = crypto.new_token("si")
        now = self.clock.now()
        with self.lock:
            self.db.execute("INSERT INTO sign_ins VALUES (?, ?, ?, ?)",
                            (crypto.digest(token), username, now, now + ttl))
        return token

    def signed_in(self, token: str | None) -> str | None:
        """Who the sign-in session *token* belongs to, while it lasts; else None."""
        if not token:
            return None
        with self.lock:
            row = self.db.execute("SELECT username FROM sign_ins WHERE digest = ? AND expires_at > ?",
                                  (crypto.digest(token), self.clock.now())).fetchone()
        return row["username"] if row else None

    def sign_ins(self) -> list[sqlite3.Row]:
        """Every sign-in session (username, created_at, expires_at), oldest first; no tokens, no digests."""
        with self.lock:
            return self.db.execute(
                "SELECT username, created_at, expires_at FROM sign_ins ORDER BY created_at").fetchall()

    def remember_consent(self, username: str, client_id: str, scopes) -> None:
        """*username* allowed *client_id* these *scopes*: add them to what is remembered."""
        scopes = set(scopes) | self.consent(username, client_id)
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO consents VALUES (?, ?, ?, ?)",
                            (username, client_id, " ".join(sorted(scopes)), self.clock.now()))

    def consent(self, username: str, client_id: str) -> set[str]:
        """The scopes *username* allowed *client_id* and the server remembers (empty if none)."""
        with self.lock:
            row = self.db.execute("SELECT scopes FROM consents WHERE username = ? AND client_id = ?",
                                  (username, client_id)).fetchone()
        return set(_split(row["scopes"])) if row else set()

    def forget_consent(self, username: str, client_id: str) -> bool:
        """Forget what *username* allowed *client_id* (the app was cut off); True if something was remembered."""
        with self.lock:
            return self.db.execute("DELETE FROM consents WHERE username = ? AND client_id = ?",
                                   (username, client_id)).rowcount == 1

    # -- events ----------------------------------------------------------
    def log(self, event: str, grant_id=None, client_id=None, username=None, detail="", code=None) -> None:
        """Record an event; *code* (an authorization code) links it to the grant the code becomes."""
        with self.lock:
            self._write_uses()
            self.db.execute(
                "INSERT INTO events (at, grant_id, client_id, username, event, detail, code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.clock.now(), grant_id, client_id, username, event, detail,
                 None if code is None else crypto.digest(code)))

    def exploited(self, weakness: str, detail: str, grant_id=None, client_id=None, username=None) -> None:
        """A deliberate weakness was really used: an ``exploited`` event, its detail ``"<switch>: what happened"``.

        A server calls this in the code path of the flaw, where the weakened
        branch lets the request through (as Juice Shop's ``solveIf`` sits in
        the route it guards), so a check can tell a real attack from a lucky answer.
        """
        self.log("exploited", grant_id, client_id, username, f"{weakness}: {detail}")

    def events(self, grant_id: int | None = None, event: str | None = None) -> list[sqlite3.Row]:
        sql, where, args = "SELECT * FROM events", [], []
        if grant_id is not None:
            where.append("grant_id = ?")
            args.append(grant_id)
        if event is not None:
            where.append("event = ?")
            args.append(event)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.lock:
            self._write_uses()
            return self.db.execute(sql + " ORDER BY id", args).fetchall()

    # -- resources -------------------------------------------------------
    # The resource API's reads and writes, one named statement each.  Every
    # value travels as a parameter; no statement is built from request data.
    #: The fields of a saved card that an update may set (PUT /payment).
    PAYMENT_FIELDS = ("card_holder", "card_last4", "expiry", "billing_city")

    def photos(self, owner: str | None = None) -> list[sqlite3.Row]:
        """Every photo (id, owner, title, taken), or only *owner*'s, by id."""
        sql, args = "SELECT * FROM photos", ()
        if owner is not None:
            sql, args = sql + " WHERE owner = ?", (owner,)
        with self.lock:
            return self.db.execute(sql + " ORDER BY id", args).fetchall()

    def photo(self, photo_id: int) -> sqlite3.Row | None:
        """One photo by id, whoever owns it (the caller checks ownership), or None."""
        if not -2**63 <= photo_id < 2**63:       # beyond SQLite's integers: no such photo
            return None
        with self.lock:
            return self.db.execute("SELECT * FROM photos WHERE id = ?", (photo_id,)).fetchone()

    def add_photo(self, owner: str, title: str, taken: str) -> int:
        """Store a new photo of *owner*'s; its id."""
        with self.lock:
            return self.db.execute("INSERT INTO photos (owner, title, taken) VALUES (?, ?, ?)",
                                   (owner, title, taken)).lastrowid

    def messages(self, owner: str) -> list[sqlite3.Row]:
        """*owner*'s inbox (id, owner, sender, text), by id."""
        with self.lock:
            return self.db.execute("SELECT * FROM messages WHERE owner = ? ORDER BY id", (owner,)).fetchall()

    def add_message(self, to: str, sender: str, text: str) -> int:
        """Deliver a message to *to*'s inbox; its id."""
        with self.lock:
            return self.db.execute("INSERT INTO messages (owner, sender, text) VALUES (?, ?, ?)",
                                   (to, sender, text)).lastrowid

    def payment(self, owner: str) -> sqlite3.Row | None:
        """*owner*'s saved card, or None."""
        with self.lock:
            return self.db.execute("SELECT * FROM payments WHERE owner = ?", (owner,)).fetchone()

    def update_payment(self, owner: str, changes: dict[str, str]) -> bool:
        """Set some fields of *owner*'s saved card (those in :attr:`PAYMENT_FIELDS`); True if there was one.

        One fixed statement: a field left out of *changes* keeps its value.
        """
        unknown = set(changes) - set(self.PAYMENT_FIELDS)
        if unknown:
            raise ValueError(f"no payment fields {sorted(unknown)}; known: {list(self.PAYMENT_FIELDS)}")
        values = {name: changes.get(name) for name in self.PAYMENT_FIELDS}
        with self.lock:
            return self.db.execute(
                "UPDATE payments SET card_holder = COALESCE(:card_holder, card_holder),"
                " card_last4 = COALESCE(:card_last4, card_last4), expiry = COALESCE(:expiry, expiry),"
                " billing_city = COALESCE(:billing_city, billing_city) WHERE owner = :owner",
                {**values, "owner": owner}).rowcount == 1

    def counts(self) -> dict[str, int]:
        """How many users, photos, messages and grants the lab holds (the usage report)."""
        with self.lock:
            self._write_uses()
            row = self.db.execute(
                "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM photos) AS photos,"
                " (SELECT COUNT(*) FROM messages) AS messages, (SELECT COUNT(*) FROM grants) AS grants").fetchone()
        return dict(row)

    def accounts(self) -> list[sqlite3.Row]:
        """Every account's public fields (username, display_name, email), by username: no password hashes."""
        with self.lock:
            return self.db.execute("SELECT username, display_name, email FROM users ORDER BY username").fetchall()

    # -- the account and the print shop (notebook 08) ---------------------------
    #: Columns of an account that an update may set (PATCH /me, a staff member): which of them a *user* may set
    #: is the API's decision (OWASP API3:2023), not the store's.
    ACCOUNT_FIELDS = ("display_name", "email", "role", "plan", "print_credits")
    ROLES, PLANS = ("user", "staff"), ("free", "pro")

    def update_account(self, username: str, changes: dict) -> bool:
        """Set some of *username*'s :attr:`ACCOUNT_FIELDS`; True if there is such a user.

        One fixed statement: a field left out of *changes* keeps its value.
        """
        unknown = set(changes) - set(self.ACCOUNT_FIELDS)
        if unknown:
            raise ValueError(f"no account fields {sorted(unknown)}; known: {list(self.ACCOUNT_FIELDS)}")
        values = {name: changes.get(name) for name in self.ACCOUNT_FIELDS}
        with self.lock:
            return self.db.execute(
                "UPDATE users SET display_name = COALESCE(:display_name, display_name),"
                " email = COALESCE(:email, email), role = COALESCE(:role, role), plan = COALESCE(:plan, plan),"
                " print_credits = COALESCE(:print_credits, print_credits) WHERE username = :username",
                {**values, "username": username}).rowcount == 1

    def reset_account(self, username: str) -> None:
        """*username*'s role, plan and print credits back to a new account's; their coupon redemptions and print
        orders forgotten (so a notebook's replay of an attack leaves the account as a new one)."""
        with self.lock:
            self.db.execute("UPDATE users SET role = 'user', plan = 'free', print_credits = 0 WHERE username = ?",
                            (username,))
            self.db.execute("DELETE FROM redemptions WHERE username = ?", (username,))
            self.db.execute("DELETE FROM prints WHERE owner = ?", (username,))

    def people(self) -> list[sqlite3.Row]:
        """Every account's record but its password hash, by username."""
        with self.lock:
            return self.db.execute("SELECT username, display_name, email, role, plan, print_credits FROM users"
                                   " ORDER BY username").fetchall()

    def add_credits(self, username: str, credits: int) -> bool:
        """Give *username* *credits* more print credits; True if there is such a user."""
        with self.lock:
            return self.db.execute("UPDATE users SET print_credits = print_credits + ? WHERE username = ?",
                                   (credits, username)).rowcount == 1

    def coupon(self, code: str) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute("SELECT * FROM coupons WHERE code = ?", (code,)).fetchone()

    def redeem(self, code: str, username: str, once: bool = True) -> int | None:
        """*username* redeems coupon *code*: the credits it gives are added; how many times they redeemed it.

        With *once*, a second redemption by the same account changes nothing
        and returns None.  Check and write are one statement under the store's
        lock, so simultaneous requests cannot both pass the check (the race a
        ``SELECT`` then ``INSERT`` would lose).
        """
        now = self.clock.now()
        with self.lock:
            self.db.execute("BEGIN")
            try:
                if once:
                    cur = self.db.execute(
                        "INSERT INTO redemptions (code, username, at) SELECT ?, ?, ?"
                        " WHERE NOT EXISTS (SELECT 1 FROM redemptions WHERE code = ? AND username = ?)",
                        (code, username, now, code, username))
                else:
                    cur = self.db.execute("INSERT INTO redemptions (code, username, at) VALUES (?, ?, ?)",
                                          (code, username, now))
                if cur.rowcount != 1:
                    self.db.execute("ROLLBACK")
                    return None
                self.db.execute("UPDATE users SET print_credits = print_credits"
                                " + (SELECT credits FROM coupons WHERE code = ?) WHERE username = ?", (code, username))
                times = self.db.execute("SELECT COUNT(*) FROM redemptions WHERE code = ? AND username = ?",
                                        (code, username)).fetchone()[0]
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return times

    def spend_credits(self, username: str, credits: int) -> bool:
        """Take *credits* print credits from *username* if they have that many; True if taken (one statement)."""
        with self.lock:
            cur = self.db.execute("UPDATE users SET print_credits = print_credits - ?"
                                  " WHERE username = ? AND print_credits >= ?", (credits, username, credits))
            return cur.rowcount == 1

    def add_print(self, owner: str, photo_id: int, copies: int, paid_with: str, partner_order: str, status: str,
                  price_cents: int) -> int:
        """Record a print order as the print partner confirmed it; its id."""
        with self.lock:
            return self.db.execute(
                "INSERT INTO prints (owner, photo_id, copies, paid_with, partner_order, status, price_cents, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (owner, photo_id, copies, paid_with, partner_order, status, price_cents, self.clock.now())).lastrowid

    def prints(self, owner: str | None = None) -> list[sqlite3.Row]:
        """Every print order, or only *owner*'s, by id."""
        sql, args = "SELECT * FROM prints", ()
        if owner is not None:
            sql, args = sql + " WHERE owner = ?", (owner,)
        with self.lock:
            return self.db.execute(sql + " ORDER BY id", args).fetchall()
