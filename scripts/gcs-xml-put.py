#!/usr/bin/env python3
"""Puts fake-gcs-server in reach of object_store's GCS client, on loopback.

object_store writes objects with the GCS XML API (`PUT /<bucket>/<object>`, the precondition in
`x-goog-if-generation-match`); fake-gcs-server serves the XML API's reads, listings and deletes
but not that write (its issue #331; object_store's own CI runs a patched build of it, only on
Docker Hub). This proxy passes every request through unchanged, except that one: it sends it as
the JSON API's multipart upload (`POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart`,
the object's metadata in the first part, the precondition as `ifGenerationMatch`: the upload
form whose preconditions the emulator checks; its `uploadType=media` ignores them) and answers
as the XML API does (`ETag` and `x-goog-generation` headers, no body). What is stored, its
generation, and whether a precondition holds stay the emulator's to decide.

Usage: gcs-xml-put.py LISTEN_PORT EMULATOR_PORT
"""
import http.client
import http.server
import json
import secrets
import sys
import urllib.parse

LISTEN_PORT, EMULATOR_PORT = int(sys.argv[1]), int(sys.argv[2])
EMULATOR = f"127.0.0.1:{EMULATOR_PORT}"
# Headers of an XML API write and the JSON API metadata fields that keep them.
KEPT = {"content-type": "contentType", "cache-control": "cacheControl",
        "content-disposition": "contentDisposition", "content-encoding": "contentEncoding",
        "content-language": "contentLanguage"}
HOP_BY_HOP = ("connection", "keep-alive", "transfer-encoding", "content-length", "host")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    return out
                out += chunk
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def emulator(self, method, target, headers, body):
        conn = http.client.HTTPConnection(EMULATOR, timeout=60)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def answer(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = EMULATOR
        self.answer(*self.emulator(self.command, self.path, headers, self.body()))

    def xml_put(self, bucket, name):
        query = {"uploadType": "multipart"}
        condition = self.headers.get("x-goog-if-generation-match")
        if condition is not None:
            query["ifGenerationMatch"] = condition
        metadata = {"name": name, "metadata": {}}
        for header, value in self.headers.items():
            if header.lower() in KEPT:
                metadata[KEPT[header.lower()]] = value
            elif header.lower().startswith("x-goog-meta-"):
                metadata["metadata"][header[len("x-goog-meta-"):]] = value
        boundary = secrets.token_hex(16)
        body = b"".join([
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(),
            json.dumps(metadata).encode(),
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
            self.body(),
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        headers = {"Host": EMULATOR, "Content-Type": f"multipart/related; boundary={boundary}"}
        target = f"/upload/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}"
        status, reply_headers, reply = self.emulator("POST", target, headers, body)
        if status != 200:
            return self.answer(status, reply_headers, reply)
        stored = json.loads(reply)
        self.answer(200, [("ETag", f'"{stored["etag"]}"'),
                          ("x-goog-generation", str(stored["generation"]))], b"")

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        if url.query == "" and len(parts) == 2 and parts[1]:
            return self.xml_put(parts[0], urllib.parse.unquote(parts[1]))
        self.forward()

    do_GET = do_HEAD = do_POST = do_DELETE = forward

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN_PORT), Proxy).serve_forever()
