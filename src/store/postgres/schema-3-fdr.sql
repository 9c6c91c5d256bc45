-- Reconciliation: settlement flows, the settlement of each transfer, treasury movements and
-- the acquisition's bookkeeping (src/store/fdr.rs).

CREATE TABLE fdr_flows (
    dominio   text COLLATE "C" NOT NULL,
    id_flusso text COLLATE "C" NOT NULL,
    psp       text COLLATE "C" NOT NULL,
    revisione integer NOT NULL,
    body      bytea NOT NULL,
    lines     bytea,
    raw       bytea,
    PRIMARY KEY (dominio, id_flusso, psp, revisione)
);

CREATE TABLE fdr_settlements (
    dominio text COLLATE "C" NOT NULL,
    iuv     text COLLATE "C" NOT NULL,
    iur     text COLLATE "C" NOT NULL,
    indice  smallint NOT NULL,
    body    bytea NOT NULL,
    PRIMARY KEY (dominio, iuv, iur, indice)
);

CREATE TABLE fdr_movements (
    dominio text COLLATE "C" NOT NULL,
    id      text COLLATE "C" NOT NULL,
    body    bytea NOT NULL,
    PRIMARY KEY (dominio, id)
);

CREATE TABLE fdr_meta (
    key   text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
