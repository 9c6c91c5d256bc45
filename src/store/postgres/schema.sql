-- Varco's schema on PostgreSQL, version 1. Records are the same JSON the embedded engine
-- stores (`body`); the columns beside them are what queries select and order on. Text keys
-- use the C collation, so they order byte by byte as the embedded engine's keys do.

CREATE TABLE positions (
    dominio     text COLLATE "C" NOT NULL,
    iuv         text COLLATE "C" NOT NULL,
    id_a2a      text COLLATE "C",
    id_pendenza text COLLATE "C",
    created_ms  bigint NOT NULL,
    -- What listings filter on (state, due day, debtor): crate::store::index::Summary.
    summary     bytea NOT NULL,
    body        bytea NOT NULL,
    PRIMARY KEY (dominio, iuv)
);
-- An application's id names one position (NULLs never collide).
CREATE UNIQUE INDEX positions_by_app ON positions (id_a2a, id_pendenza);
-- Listings: an application's positions newest first.
CREATE INDEX positions_recent ON positions (id_a2a, created_ms DESC, dominio, iuv)
    INCLUDE (summary) WHERE id_a2a IS NOT NULL;

-- The last IUV reference handed out per domain and segregation code.
CREATE TABLE counters (
    dominio     text COLLATE "C" NOT NULL,
    segregation text COLLATE "C" NOT NULL,
    last        bigint NOT NULL,
    PRIMARY KEY (dominio, segregation)
);

-- Notices known only from a receipt: never handed out by a counter.
CREATE TABLE seen (
    dominio text COLLATE "C" NOT NULL,
    iuv     text COLLATE "C" NOT NULL,
    PRIMARY KEY (dominio, iuv)
);

CREATE TABLE receipts (
    dominio    text COLLATE "C" NOT NULL,
    iuv        text COLLATE "C" NOT NULL,
    receipt_id text COLLATE "C" NOT NULL,
    body       bytea NOT NULL,
    PRIMARY KEY (dominio, iuv, receipt_id)
);

CREATE TABLE attempts (
    id      bigserial PRIMARY KEY,
    dominio text COLLATE "C" NOT NULL,
    iuv     text COLLATE "C" NOT NULL,
    body    bytea NOT NULL
);
CREATE INDEX attempts_of_position ON attempts (dominio, iuv, id);

CREATE SEQUENCE outbox_ids;
CREATE TABLE outbox (
    id          bigint PRIMARY KEY,
    -- The application's queue and when the entry is due: set only while it is pending.
    queue       text COLLATE "C",
    due_ms      bigint,
    -- A worker's claim on it for one delivery attempt (any node's, until the lease ends).
    lease_until timestamptz,
    lease_node  text,
    body        bytea NOT NULL
);
CREATE INDEX outbox_due ON outbox (queue, due_ms, id) WHERE queue IS NOT NULL;

CREATE SEQUENCE journal_seq;
CREATE TABLE journal (
    ms   bigint NOT NULL,
    seq  bigint NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (ms, seq)
);
