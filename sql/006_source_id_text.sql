-- source_id is the customer's identifier in the system it came from (`app-ios-43`,
-- `LEG-007-0000028`, `Склад №261 «Центральный»`): text, as the original service has it. The
-- integers stored so far become their decimal text. The table is rewritten once, under an
-- exclusive lock: on a big table run this at a quiet hour.
ALTER TABLE customers ALTER COLUMN source_id TYPE text USING source_id::text;
ALTER TABLE customers ADD CONSTRAINT customers_source_id_length CHECK (char_length(source_id) <= 255);
