-- Personal access keys: only the SHA-256 of each secret is kept. `principal` is the owner as
-- signed in when the key was minted (the identity every use acts as).
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    owner_key TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_owner ON access_keys (owner_key, created_at);
