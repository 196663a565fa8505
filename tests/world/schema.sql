-- The VocaVision schema, as far as the runbooks touch it (PostgreSQL 15).
-- Plain SQL so that anything can load it: the tests, `make demo`, `psql -f`.
-- Foreign keys have no ON DELETE CASCADE on purpose: the GDPR hard delete in
-- runbooks/user-delete.yaml must name every table, and a forgotten one fails loudly.

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text,
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login    timestamptz,
    deleted_at    timestamptz
);

CREATE TABLE user_activity (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    action     text NOT NULL,          -- review, quiz, login, lesson_completed, ...
    word       text,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_activity_user_created ON user_activity (user_id, created_at DESC);

CREATE TABLE user_progress (
    user_id       text NOT NULL REFERENCES users (id),
    deck          text NOT NULL,
    words_learned integer NOT NULL DEFAULT 0,
    streak_days   integer NOT NULL DEFAULT 0,
    mastery       numeric(5, 2) NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, deck)
);

CREATE TABLE audit_logs (
    id         bigserial PRIMARY KEY,
    user_id    text REFERENCES users (id),   -- null for system actions
    action     text NOT NULL,
    ip_address inet,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created ON audit_logs (created_at);

CREATE TABLE session_logs (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    ip_address inet,
    user_agent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz
);
CREATE INDEX session_logs_created ON session_logs (created_at);

-- Prisma Migrate's own bookkeeping table, with Prisma's columns.
CREATE TABLE _prisma_migrations (
    id                  varchar(36) PRIMARY KEY,
    checksum            varchar(64) NOT NULL,
    finished_at         timestamptz,
    migration_name      varchar(255) NOT NULL,
    logs                text,
    rolled_back_at      timestamptz,
    started_at          timestamptz NOT NULL DEFAULT now(),
    applied_steps_count integer NOT NULL DEFAULT 0
);

-- Auth.js (NextAuth) with its Prisma adapter, tables mapped to snake case (@@map): `accounts`
-- links a user to a sign-in provider (Google), `sessions` holds database sessions. Locking an
-- account must revoke both, or Google sign-in and open sessions keep working.
CREATE TABLE accounts (
    id                  text PRIMARY KEY,
    user_id             text NOT NULL REFERENCES users (id),
    type                text NOT NULL,               -- oauth, oidc, email
    provider            text NOT NULL,               -- google
    provider_account_id text NOT NULL,
    refresh_token       text,
    access_token        text,
    expires_at          integer,
    token_type          text,
    scope               text,
    id_token            text,
    session_state       text,
    UNIQUE (provider, provider_account_id)
);

CREATE TABLE sessions (
    id            text PRIMARY KEY,
    session_token text NOT NULL UNIQUE,
    user_id       text NOT NULL REFERENCES users (id),
    expires       timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
