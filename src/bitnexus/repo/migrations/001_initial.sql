-- BitNexus platform schema: accounts, products, transactions, commissions.
-- Money is always integer minor units (cents) with an ISO 4217 code beside it.
-- Constraint names are stable: bitnexus.repo.queries maps them to messages.

CREATE FUNCTION bitnexus_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user',
    referred_by   bigint NULL,
    balance_minor bigint NOT NULL DEFAULT 0,
    currency      text NOT NULL DEFAULT 'USD',
    display_name  text NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_check CHECK (email <> '' AND length(email) <= 320),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'user', 'affiliate')),
    CONSTRAINT users_referred_by_fkey FOREIGN KEY (referred_by)
        REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT users_not_self_referred CHECK (referred_by <> id),
    CONSTRAINT users_balance_check CHECK (balance_minor >= 0),
    CONSTRAINT users_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);
-- Case-insensitive uniqueness without the citext extension.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_referred_by_idx ON users (referred_by) WHERE referred_by IS NOT NULL;
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION bitnexus_touch_updated_at();

CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL,
    CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    price_minor bigint NOT NULL,
    currency    char(3) NOT NULL DEFAULT 'USD',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_name_check CHECK (name <> '' AND length(name) <= 200),
    CONSTRAINT products_price_check CHECK (price_minor > 0),
    CONSTRAINT products_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX products_listing_idx ON products (active, currency, price_minor);
CREATE TRIGGER products_touch BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION bitnexus_touch_updated_at();

CREATE TABLE transactions (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL,
    product_id      bigint NOT NULL,
    amount_minor    bigint NOT NULL,
    currency        text NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    failure_reason  text NULL,
    idempotency_key text NULL,
    request_hash    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT transactions_product_id_fkey FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT transactions_amount_check CHECK (amount_minor > 0),
    CONSTRAINT transactions_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT transactions_status_check
        CHECK (status IN ('pending', 'completed', 'failed', 'refunded')),
    CONSTRAINT transactions_idempotency_key_check
        CHECK (idempotency_key <> '' AND length(idempotency_key) <= 255),
    -- NULL keys never collide: requests without a key are never deduplicated.
    CONSTRAINT transactions_idempotency_key UNIQUE (user_id, idempotency_key)
);
CREATE INDEX transactions_user_idx ON transactions (user_id, id DESC);
CREATE INDEX transactions_product_idx ON transactions (product_id);
CREATE TRIGGER transactions_touch BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION bitnexus_touch_updated_at();

-- Every status a transaction passes through, in order (pending -> completed ...).
CREATE TABLE transaction_events (
    id             bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL,
    status         text NOT NULL,
    reason         text NULL,
    -- clock_timestamp(): steps inside one SQL transaction get distinct times.
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT transaction_events_transaction_id_fkey FOREIGN KEY (transaction_id)
        REFERENCES transactions (id) ON DELETE CASCADE,
    CONSTRAINT transaction_events_status_check
        CHECK (status IN ('pending', 'completed', 'failed', 'refunded'))
);
CREATE INDEX transaction_events_transaction_idx ON transaction_events (transaction_id, id);

CREATE TABLE commissions (
    id             bigserial PRIMARY KEY,
    affiliate_id   bigint NOT NULL,
    transaction_id bigint NOT NULL,
    amount_minor   bigint NOT NULL,
    currency       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    reversed_at    timestamptz NULL,
    CONSTRAINT commissions_affiliate_id_fkey FOREIGN KEY (affiliate_id) REFERENCES users (id),
    CONSTRAINT commissions_transaction_id_fkey FOREIGN KEY (transaction_id)
        REFERENCES transactions (id),
    CONSTRAINT commissions_transaction_id_key UNIQUE (transaction_id),
    CONSTRAINT commissions_amount_check CHECK (amount_minor > 0)
);
CREATE INDEX commissions_affiliate_idx ON commissions (affiliate_id, id DESC);
