-- The column defaults agree with the create defaults of the service (customers.models, the one
-- set REST, JSON-RPC and bulk import use, as the original service has them): a new customer is
-- not in the loyalty program and accepts the tender offer unless told otherwise. Only the
-- defaults change: existing rows keep their values (no row is rewritten).
ALTER TABLE customers
    ALTER COLUMN loyalty_enabled SET DEFAULT false,
    ALTER COLUMN accept_tender_offer SET DEFAULT true;
