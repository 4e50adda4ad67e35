-- Customers: core attributes, questionnaire answers (profile), meta, subscriptions.
CREATE TABLE customers (
    id                          bigserial PRIMARY KEY,
    phone                       text NOT NULL,
    email                       text,
    email_confirmed             boolean NOT NULL DEFAULT false,
    source_id                   bigint,
    blocked                     boolean NOT NULL DEFAULT false,
    profile                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    meta                        jsonb NOT NULL DEFAULT '{}'::jsonb,
    subscriptions               jsonb NOT NULL DEFAULT '{}'::jsonb,
    loyalty_enabled             boolean NOT NULL DEFAULT true,
    accept_tender_offer         boolean NOT NULL DEFAULT false,
    prioritize_sms_verification boolean NOT NULL DEFAULT false,
    created                     date NOT NULL DEFAULT current_date,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    -- normalised E.164 digits without the plus sign, e.g. 79001234567
    CONSTRAINT customers_phone_format CHECK (phone ~ '^[1-9][0-9]{6,14}$'),
    CONSTRAINT customers_profile_object CHECK (jsonb_typeof(profile) = 'object'),
    CONSTRAINT customers_meta_object CHECK (jsonb_typeof(meta) = 'object'),
    CONSTRAINT customers_subscriptions_object CHECK (jsonb_typeof(subscriptions) = 'object')
);

CREATE UNIQUE INDEX customers_phone_key ON customers (phone);
-- emails are stored lower-cased; the index also guards writers that forget to
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email)) WHERE email IS NOT NULL;
-- ids grow with insertion order: a BRIN index is tiny and is summarised by a scheduled job
CREATE INDEX idx_customers_id ON customers USING brin (id) WITH (pages_per_range = 32);

-- Questionnaire settings: every change is a new version; the highest version is in force.
CREATE TABLE questionnaire_versions (
    version    integer PRIMARY KEY,
    document   jsonb NOT NULL,
    action     text NOT NULL CHECK (action IN ('set', 'reset')),
    created_at timestamptz NOT NULL DEFAULT now()
);
