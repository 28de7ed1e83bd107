"""A Twitter-like OAuth 1.0a provider built on Authlib's server, for ief's interop tests.

Endpoints (Twitter's paths): POST /oauth/request_token, GET /oauth/authenticate and
/oauth/authorize (the configured user approves at once), POST /oauth/access_token (adds
user_id and screen_name, which Authlib leaves out), GET /1.1/account/verify_credentials.json
(email only with include_email=true).

Serves on 127.0.0.1 only, on a free port, and prints `READY <port>` once listening. It exits by
itself after --lifetime seconds, and as soon as its standard input closes (the parent died).
"""

import argparse
import json
import os
import sys
import threading
import time

from authlib.common.urls import url_decode, url_encode
from authlib.integrations.flask_oauth1 import (
    AuthorizationServer,
    ResourceProtector,
    current_credential,
)
from authlib.integrations.flask_oauth1.cache import (
    create_exists_nonce_func,
    register_nonce_hooks,
    register_temporary_credential_hooks,
)
from authlib.oauth1 import ClientMixin, TokenCredentialMixin
from authlib.oauth1.errors import OAuth1Error
from flask import Flask, Response, request
from werkzeug.serving import make_server


class Cache:
    """The cache interface Authlib's hooks use, in memory (one process, tests only)."""

    def __init__(self):
        self.items = {}
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            item = self.items.get(key)
            if item is None or item[1] < time.time():
                return None
            return item[0]

    def set(self, key, value, timeout=None):
        with self.lock:
            self.items[key] = (value, time.time() + (timeout or 86400))

    def delete(self, key):
        with self.lock:
            self.items.pop(key, None)

    def has(self, key):
        return self.get(key) is not None


class Client(ClientMixin):
    def __init__(self, key, secret):
        self.client_id = key
        self.secret = secret

    def get_default_redirect_uri(self):
        return None

    def get_client_secret(self):
        return self.secret

    def get_rsa_public_key(self):
        return None


class TokenCredential(dict, TokenCredentialMixin):
    def get_oauth_token(self):
        return self["oauth_token"]

    def get_oauth_token_secret(self):
        return self["oauth_token_secret"]


class User:
    def __init__(self, user_id, screen_name, name, email):
        self.user_id = user_id
        self.screen_name = screen_name
        self.name = name
        self.email = email

    def get_user_id(self):
        return self.user_id


def create_app(args):
    app = Flask(__name__)
    client = Client(args.consumer_key, args.consumer_secret)
    user = User(args.user_id, args.screen_name, args.name, args.email)
    cache = Cache()
    tokens = {}

    def query_client(client_id):
        return client if client_id == client.client_id else None

    def create_token_credential(token, temporary_credential):
        credential = TokenCredential(token)
        credential["client_id"] = temporary_credential.get_client_id()
        credential["user_id"] = temporary_credential.get_user_id()
        tokens[credential["oauth_token"]] = credential
        return credential

    def query_token(client_id, oauth_token):
        credential = tokens.get(oauth_token)
        if credential and credential["client_id"] == client_id:
            return credential
        return None

    server = AuthorizationServer(app, query_client=query_client)
    register_nonce_hooks(server, cache)
    register_temporary_credential_hooks(server, cache)
    server.register_hook("create_token_credential", create_token_credential)
    require_oauth = ResourceProtector(
        app,
        query_client=query_client,
        query_token=query_token,
        exists_nonce=create_exists_nonce_func(cache),
    )

    def rewrite_form(response, change):
        if response.status_code != 200:
            return response
        pairs = [(k, v) for k, v in url_decode(response.get_data(as_text=True))]
        response.set_data(url_encode(change(pairs)))
        return response

    @app.post("/oauth/request_token")
    def request_token():
        response = server.create_temporary_credentials_response()

        # Authlib sends Python's `True`; RFC 5849 says `true`. The knob reproduces other providers.
        def confirm(pairs):
            pairs = [(k, v) for k, v in pairs if k != "oauth_callback_confirmed"]
            if args.callback_confirmed != "omit":
                pairs.append(("oauth_callback_confirmed", args.callback_confirmed))
            return pairs

        return rewrite_form(response, confirm)

    @app.get("/oauth/authenticate")
    @app.get("/oauth/authorize")
    def authorize():
        try:
            server.check_authorization_request()
        except OAuth1Error as error:
            return Response(url_encode(error.get_body()), status=error.status_code)
        return server.create_authorization_response(grant_user=user)

    @app.post("/oauth/access_token")
    def access_token():
        response = server.create_token_response()

        def add_user(pairs):
            return pairs + [("user_id", user.user_id), ("screen_name", user.screen_name)]

        return rewrite_form(response, add_user)

    @app.get("/1.1/account/verify_credentials.json")
    @require_oauth()
    def verify_credentials():
        if current_credential["user_id"] != user.user_id:
            return Response(json.dumps({"error": "unknown_user"}), status=401)
        profile = {
            "id": int(user.user_id) if user.user_id.isdigit() else user.user_id,
            "id_str": user.user_id,
            "screen_name": user.screen_name,
            "name": user.name,
        }
        if request.args.get("include_email") == "true":
            profile["email"] = user.email
        return Response(json.dumps(profile), mimetype="application/json")

    return app


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(1024):
            pass
    finally:
        os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--consumer-key", required=True)
    parser.add_argument("--consumer-secret", required=True)
    parser.add_argument("--user-id", default="1234567890")
    parser.add_argument("--screen-name", default="alice_x")
    parser.add_argument("--name", default="Alice")
    parser.add_argument("--email", default="alice@example.com")
    parser.add_argument("--callback-confirmed", default="true", choices=["true", "True", "1", "false", "omit"])
    parser.add_argument("--lifetime", type=float, default=300.0, help="seconds before the server exits")
    args = parser.parse_args()

    app = create_app(args)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
