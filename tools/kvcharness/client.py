# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The HTTP/1.1 client of the harness: everything it talks to is on loopback.

A body given as a dict or list is sent as JSON; any body goes out as
application/json unless the caller names another Content-Type, since the
module routes JSON only.
"""

import http.client
import json
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


class HTTPError(RuntimeError):
    """An answer other than 200 where only 200 makes sense."""

    def __init__(self, what, response):
        super().__init__(f"{what}: HTTP {response.status} {response.body[:200]!r}")
        self.status = response.status
        self.response = response


def encode(body, headers):
    """(bytes or None, headers) to send for `body`."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    return body, headers


class Connection:
    """A keep-alive connection to one port that reconnects when it has to.

    A reused connection that the server closed while idle fails on the next
    request; that request is sent again once on a new connection.  A
    failure on a new connection is the caller's to see.
    """

    def __init__(self, port, timeout=120):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.answered = 0  # requests answered on self.conn

    def request(self, method, path, body=None, headers=None):
        data, headers = encode(body, headers)
        while True:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(LOOPBACK, self.port,
                                                       timeout=self.timeout)
                self.answered = 0
            reused = self.answered > 0
            try:
                self.conn.request(method, path, data, headers)
                resp = self.conn.getresponse()
                response = Response(resp.status, resp.headers, resp.read())
            except (ConnectionError, http.client.BadStatusLine):
                self.close()
                if reused:
                    continue
                raise
            self.answered += 1
            if resp.will_close:
                self.close()
            return response

    def post_json(self, path, value):
        """The JSON answer to a POST of `value`; HTTPError unless it is a 200."""
        response = self.request("POST", path, value)
        if response.status != 200:
            raise HTTPError(f"POST :{self.port}{path}", response)
        return response.json()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a connection of its own."""
    conn = Connection(port, timeout)
    try:
        return conn.request(method, path, body, headers)
    finally:
        conn.close()
