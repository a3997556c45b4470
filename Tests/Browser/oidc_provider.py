"""A small OpenID Connect provider for tests, on 127.0.0.1 only: discovery, JWKS, an
authorization endpoint that signs in whichever person the test chose, a token endpoint that
authenticates the client and checks PKCE, the redirect URI and single use of codes, and a
userinfo endpoint that answers only to the Bearer access tokens it issued, as a real provider
does. It signs ID tokens with RSA (RS256) or P-256 (ES256) keys it generates. Like providers
that follow OpenID Connect Core §5.4, it can leave profile claims out of the ID token so that
only userinfo has them; and it can be told to misbehave in one way at a time so that tests see
the portal refuse.
"""
import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _integer(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_public_jwk(private, kid):
    numbers = private.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": _integer(numbers.n), "e": _integer(numbers.e)}


class SigningKey:
    """A private key, its JWK and a signer for one JWS algorithm."""

    def __init__(self, algorithm, kid):
        self.algorithm, self.kid = algorithm, kid
        if algorithm == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = rsa_public_jwk(self.private, kid)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                        "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}

    def sign(self, header, claims):
        signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
        if self.algorithm == "RS256":
            signature = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input.decode() + "." + b64(signature)


class Provider:
    """The provider's state. Tests set `person` (the claims of who signs in next), `algorithm`,
    `userinfo_only` (the claims the ID token leaves out, for the userinfo endpoint alone),
    `denial` (the error and description "deny" answers with) and `misbehave` (None, or one of
    MISBEHAVIOURS); they read `authorize_requests`, `token_requests`, `signed_claims` (of every
    ID token), `userinfo_requests` and `jwks_fetches`."""

    MISBEHAVIOURS = ("wrong_nonce", "wrong_audience", "wrong_issuer", "expired", "bad_signature", "unknown_key", "alg_none", "deny",
                     "userinfo_other_subject", "userinfo_disagrees")
    # The standard claims of the `profile` and `email` scopes this provider knows (OIDC Core §5.1, §5.4).
    PROFILE_CLAIMS = ("name", "preferred_username", "email")

    def __init__(self, client_id="portal", client_secret="s3cret-client-value"):
        self.client_id, self.client_secret = client_id, client_secret
        self.keys = {"RS256": SigningKey("RS256", "rsa-1"), "ES256": SigningKey("ES256", "ec-1")}
        self.algorithm = "RS256"
        self.person = {"sub": "alice-0001", "preferred_username": "alice", "name": "Alice Example", "groups": ["ops"]}
        self.userinfo_only = ()
        self.denial = ("access_denied", "The user is not assigned to this app")
        self.misbehave = None
        self.codes = {}
        self.access_tokens = {}  # access token → (expiry, the claims userinfo answers with)
        self.issued = []  # every code, ID token and access token handed out, to check that none is logged
        self.token_requests = []
        self.authorize_requests = []
        self.signed_claims = []
        self.userinfo_requests = []
        self.jwks_fetches = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def rotate(self, algorithm, kid):
        """Replaces the key for `algorithm` with a new one under `kid` and signs with it."""
        with self.lock:
            self.keys[algorithm] = SigningKey(algorithm, kid)
            self.algorithm = algorithm

    def id_token(self, person, nonce):
        now = int(time.time())
        claims = {name: value for name, value in person.items() if name not in self.userinfo_only}
        claims.update(iss=self.issuer, aud=self.client_id, iat=now, exp=now + 300, nonce=nonce)
        mode = self.misbehave
        if mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif mode == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        elif mode == "expired":
            claims["iat"], claims["exp"] = now - 900, now - 600
        self.signed_claims.append(claims)
        key = self.keys[self.algorithm]
        header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}
        if mode == "unknown_key":
            header["kid"] = "never-published"
        if mode == "alg_none":
            return b64(json.dumps({"alg": "none"}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
        token = key.sign(header, claims)
        if mode == "bad_signature":
            # Signed by a key of the same kind that the JWKS does not hold, under the published kid.
            token = SigningKey(key.algorithm, key.kid).sign(header, claims)
        return token

    def access_token(self, person):
        """A Bearer token for the userinfo endpoint, bound to `person`'s claims as they are now."""
        token = secrets.token_urlsafe(24)
        claims = dict(person)
        if self.misbehave == "userinfo_other_subject":
            claims["sub"] = "someone-else-0002"
        elif self.misbehave == "userinfo_disagrees":
            claims.update(name="Someone Else", groups=["someone-elses-group"])
        with self.lock:
            self.access_tokens[token] = (time.time() + 300, claims)
        return token

    def userinfo(self, authorization):
        """The claims for an `Authorization` header (OIDC Core §5.3), or None when it does not
        carry a live access token this provider issued (RFC 6750 §3.1)."""
        scheme, _, token = authorization.partition(" ")
        with self.lock:
            expiry, claims = self.access_tokens.get(token.strip(), (0, None))
        if scheme.lower() != "bearer" or claims is None or expiry < time.time():
            return None
        return claims

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location):
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, {
                        "issuer": provider.issuer,
                        "authorization_endpoint": provider.issuer + "/authorize",
                        "token_endpoint": provider.issuer + "/token",
                        "jwks_uri": provider.issuer + "/jwks",
                        "userinfo_endpoint": provider.issuer + "/userinfo",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                        "code_challenge_methods_supported": ["S256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                        "scopes_supported": ["openid", "profile", "email"],
                        "claims_supported": ["sub", *Provider.PROFILE_CLAIMS, "groups"],
                    })
                if url.path == "/jwks":
                    with provider.lock:
                        provider.jwks_fetches += 1
                        keys = [key.jwk for key in provider.keys.values()]
                    return self._json(200, {"keys": keys})
                if url.path == "/authorize":
                    provider.authorize_requests.append(query)
                    redirect_uri = query.get("redirect_uri", "")
                    if query.get("client_id") != provider.client_id or not redirect_uri.startswith("http://127.0.0.1:"):
                        return self._json(400, {"error": "invalid_request"})
                    if provider.misbehave == "deny":
                        # Form-encoded, as RFC 6749 §4.1.2.1 has it: a space is "+".
                        error, description = provider.denial
                        return self._redirect(redirect_uri + "?" + urllib.parse.urlencode(
                            {"error": error, "error_description": description, "state": query.get("state", "")}, quote_via=urllib.parse.quote_plus))
                    if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                        return self._json(400, {"error": "invalid_request", "error_description": "PKCE S256 is required"})
                    code = secrets.token_urlsafe(24)
                    provider.issued.append(code)
                    provider.codes[code] = {"nonce": query.get("nonce"), "challenge": query["code_challenge"], "redirect_uri": redirect_uri,
                                            "person": dict(provider.person)}
                    return self._redirect(redirect_uri + "?" + urllib.parse.urlencode({"code": code, "state": query.get("state", "")}))
                if url.path == "/userinfo":
                    return self._userinfo()
                return self._json(404, {"error": "not_found"})

            def _userinfo(self):
                authorization = self.headers.get("Authorization", "")
                claims = provider.userinfo(authorization)
                provider.userinfo_requests.append({"authorization": authorization, "answered": claims is not None})
                if claims is None:
                    data = json.dumps({"error": "invalid_token"}).encode()
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                return self._json(200, claims)

            def do_POST(self):
                path = urllib.parse.urlsplit(self.path).path
                if path == "/userinfo":
                    return self._userinfo()
                if path != "/token":
                    return self._json(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                authorization = self.headers.get("Authorization", "")
                provider.token_requests.append({"form": form, "authorization": authorization})
                expected = "Basic " + base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode()
                if authorization != expected:
                    return self._json(401, {"error": "invalid_client"})
                grant = provider.codes.pop(form.get("code", ""), None)  # single use
                if form.get("grant_type") != "authorization_code" or grant is None:
                    return self._json(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
                verifier = form.get("code_verifier", "")
                if b64(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                id_token, access_token = provider.id_token(grant["person"], grant["nonce"]), provider.access_token(grant["person"])
                provider.issued += [id_token, access_token]
                return self._json(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

        return Handler
