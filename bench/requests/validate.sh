#!/usr/bin/env bash
# Validates the request templates in this folder against the official
# paForNode schema: substitutes a receipt id, checks the SOAP 1.1 envelope
# (payload root qualified, children unqualified), extracts the Body payload
# and runs `xmllint --schema` on it.
#
# Usage: bench/requests/validate.sh PATH/TO/pagopa-api/wsdl/xsd/paForNode.xsd
# Needs python3 and xmllint (Debian: libxml2-utils).
set -euo pipefail
xsd=${1:?usage: $0 PATH/TO/paForNode.xsd}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$dir"/*.xml; do
    name=$(basename "$f" .xml)
    sed 's/{{RECEIPT_ID}}/0123456789abcdef0000000000000001/g; s/{{NOTICE}}/301000000000000144/g; s/{{IUV}}/01000000000000144/g' "$f" >"$tmp/$name.full.xml"
    python3 - "$tmp/$name.full.xml" "$tmp/$name.payload.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
PAFN = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == SOAP + "Envelope", f"root is {root.tag}"
body = root.find(SOAP + "Body")
assert body is not None and len(body) == 1, "Body must have exactly one child"
payload = body[0]
assert payload.tag.startswith("{" + PAFN + "}"), f"payload is {payload.tag}"
for el in payload.iter():
    assert el is payload or not el.tag.startswith("{"), f"qualified child {el.tag}"
ET.register_namespace("pafn", PAFN)
ET.ElementTree(payload).write(sys.argv[2], encoding="UTF-8", xml_declaration=True)
PY
    xmllint --noout --schema "$xsd" "$tmp/$name.payload.xml"
done
