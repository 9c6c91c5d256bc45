#!/usr/bin/env python3
"""Writes a bulk load (POST /pendenze/tracciati body) of N demo positions to stdout."""
import json, sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
items = []
for i in range(n):
    items.append({
        "idA2A": "demo", "idPendenza": f"tari-2026-{i:07d}", "idTipoPendenza": "LIBERO",
        "idDominio": "77777777777", "causale": f"TARI 2026 utenza {i}",
        "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
        "importo": 120.50, "dataScadenza": "2099-12-31",
        "voci": [{"idVocePendenza": "tari", "importo": 120.50, "descrizione": "TARI 2026", "codEntrata": "TARI"}],
    })
json.dump(items, sys.stdout, separators=(",", ":"))
