-- Version 2: the document each position is an option of (instalments, single payment), so
-- a receipt can lock every option of its document and a listing can find them.
ALTER TABLE positions ADD COLUMN documento text COLLATE "C";
UPDATE positions
   SET documento = convert_from(body, 'UTF8')::jsonb #>> '{dettagli,documento,identificativo}'
 WHERE position('"documento"' IN convert_from(body, 'UTF8')) > 0;
CREATE INDEX positions_by_document ON positions (dominio, documento) WHERE documento IS NOT NULL;
