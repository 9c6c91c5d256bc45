#!/usr/bin/env python3
"""Writes the nginx configuration bench/run.sh puts in front of Varco's nodes: the reference
file (deploy/nginx/varco.conf) with its locations, headers, timeouts and keepalive unchanged,
only the upstream servers, the listen addresses and the TLS lines replaced (the load generator
speaks plain HTTP). The same file is written a second time, upstreams renamed, in front of the
bare server, so both sides of a ratio pay the same proxy hop.

Usage: nginx_front.py REFERENCE DIR NAME NODO_LISTEN API_LISTEN NODO_SERVERS API_SERVERS
  NAME          prefix of the upstream names (varco, bare)
  *_LISTEN      port on 127.0.0.1
  *_SERVERS     comma-separated host:port list
Appends `include DIR/NAME.conf;` to DIR/sites.conf; writes DIR/nginx.conf when missing.
"""
import os
import re
import sys

ref, out_dir, name, nodo_listen, api_listen, nodo_servers, api_servers = sys.argv[1:8]
lines = []
for line in open(ref):
    bare = line.split("#", 1)[0].rstrip()
    if not bare.strip() or bare.strip().startswith("ssl_"):
        continue
    lines.append(bare)
text = "\n".join(lines) + "\n"


def upstream(text, upstream_name, servers):
    body = "".join(f"    server {s};\n" for s in servers.split(","))
    return re.sub(
        r"(upstream %s \{\n)(\s*server [^;]+;\n)+" % upstream_name,
        lambda m: m.group(1) + body,
        text,
    )


text = upstream(text, "varco_nodo", nodo_servers)
text = upstream(text, "varco_api", api_servers)
for listen, port in (("listen 443 ssl;", nodo_listen), ("listen 8443 ssl;", api_listen)):
    if listen not in text:
        sys.exit(f"{ref}: `{listen}` not found")
    text = text.replace(listen, f"listen 127.0.0.1:{port};")
text = text.replace("varco_nodo", f"{name}_nodo").replace("varco_api", f"{name}_api")
os.makedirs(os.path.join(out_dir, "tmp"), exist_ok=True)
with open(os.path.join(out_dir, f"{name}.conf"), "w") as f:
    f.write(text)
with open(os.path.join(out_dir, "sites.conf"), "a") as f:
    f.write(f"include {out_dir}/{name}.conf;\n")
main = os.path.join(out_dir, "nginx.conf")
if not os.path.exists(main):
    d = out_dir
    with open(main, "w") as f:
        f.write(
            f"daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            f"http {{\n access_log off;\n client_body_temp_path {d}/tmp/body;\n"
            f" proxy_temp_path {d}/tmp/proxy;\n fastcgi_temp_path {d}/tmp/fastcgi;\n"
            f" uwsgi_temp_path {d}/tmp/uwsgi;\n scgi_temp_path {d}/tmp/scgi;\n"
            f" include {d}/sites.conf;\n}}\n"
        )
