-- Version 4: the debtor search (crate::store::index::DebtorTerm), across applications, newest
-- first, from two indexes instead of a scan of every position. Both functions give what the
-- embedded engine keys its `debtors` tree by, whatever the server's locale: ASCII case only.
--
-- The debtor's identifier, upper-cased: the summary's bytes after its first 5 (state, due day).
CREATE FUNCTION varco_debtor(summary bytea) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT translate(convert_from(substring($1 FROM 6), 'UTF8'),
                     'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
    $$;
-- The words of the debtor's name as crate::store::index::name_tokens makes them: split on every
-- character that is not an ASCII letter or digit, ASCII-lower-cased, at least 2 characters,
-- each once.
CREATE FUNCTION varco_name_tokens(body bytea) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT coalesce(array_agg(DISTINCT t), '{}')
      FROM regexp_split_to_table(
             translate(convert_from($1, 'UTF8')::jsonb #>> '{soggetto,anagrafica}',
                       'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
             '[^a-z0-9]+') AS t
     WHERE length(t) >= 2
    $$;
-- A debtor's positions, newest first, with what the search filters on.
CREATE INDEX positions_by_debtor ON positions (varco_debtor(summary), created_ms DESC, dominio, iuv)
    INCLUDE (summary);
-- The positions whose debtor's name has a word.
CREATE INDEX positions_by_name ON positions USING gin (varco_name_tokens(body));
