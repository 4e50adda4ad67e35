-- Customer groups, membership, loyalty cards and short-lived login codes.

CREATE TABLE customer_groups (
    id      bigserial PRIMARY KEY,
    name    text NOT NULL,
    meta    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created date NOT NULL DEFAULT current_date,
    CONSTRAINT customer_groups_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT customer_groups_meta_object CHECK (jsonb_typeof(meta) = 'object')
);

-- A customer is in a group at most once; both sides cascade, so deleting a customer or a
-- group removes its memberships in the same statement.
CREATE TABLE customer_group_members (
    group_id    bigint NOT NULL REFERENCES customer_groups (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, customer_id)
);
-- "which groups is this customer in" and the cascade from customers
CREATE INDEX customer_group_members_customer ON customer_group_members (customer_id);

-- A card id belongs to exactly one customer, for ever: the primary key refuses a second owner
-- (CARD_EXISTS), deactivated cards included, so a retired number is never handed out again.
CREATE TABLE cards (
    id          text PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created     date NOT NULL DEFAULT current_date,
    CONSTRAINT cards_type_known CHECK (type IN ('TEMP', 'VIRTUAL', 'APPLE', 'GOOGLE', 'PERSONAL_OFFER', 'PHYSICAL')),
    CONSTRAINT cards_id_digits CHECK (id ~ '^[0-9]{4,32}$')
);
CREATE INDEX cards_customer ON cards (customer_id);

-- One live login code per customer: creating another replaces it. Expired codes stop
-- resolving at once (the lookup compares with now()) and are purged by later writes.
CREATE TABLE login_codes (
    customer_id bigint PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CONSTRAINT login_codes_value_digits CHECK (value ~ '^[0-9]{4,32}$')
);
CREATE UNIQUE INDEX login_codes_value_key ON login_codes (value);
CREATE INDEX login_codes_expires ON login_codes (expires_at);
