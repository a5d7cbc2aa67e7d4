"""Passkeys on a real server with a software authenticator written here (P-256, "none"
attestation): register while signed in, sign in without a password; a replayed assertion, a
wrong origin and a cloned (non-increasing) counter are refused."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.accounts_helpers import PASSWORD, register

ORIGIN = "http://127.0.0.1:8000"  # the test server's READALONG_PUBLIC_URL default
RP_ID = "127.0.0.1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SoftAuthenticator:
    """A passkey authenticator in software: one EC key, a counter, user verification on."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    counter: int = 0

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(options["rp"]["id"].encode()).digest() + bytes([0x45])
                     + struct.pack(">I", self.counter) + bytes(16)
                     + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {"clientDataJSON": b64(client_data),
                             "attestationObject": b64(attestation)}}

    def get(self, options: dict[str, Any], origin: str = ORIGIN,
            counter: int | None = None) -> dict[str, Any]:
        self.counter = self.counter + 1 if counter is None else counter
        auth_data = (hashlib.sha256(options["rpId"].encode()).digest() + bytes([0x05])
                     + struct.pack(">I", self.counter))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {"clientDataJSON": b64(client_data),
                             "authenticatorData": b64(auth_data), "signature": b64(signature)}}


async def _sign_in(http: httpx.AsyncClient, authenticator: SoftAuthenticator,
                   **kw: Any) -> tuple[httpx.Response, dict[str, Any]]:
    options = (await http.post("/api/v1/auth/passkey/options")).json()
    assertion = authenticator.get(options, **kw)
    return await http.post("/api/v1/auth/passkey", json={"credential": assertion}), assertion


async def test_passkey_registration_and_passwordless_sign_in(http: httpx.AsyncClient,
                                                             unique: str) -> None:
    """A registered passkey signs its owner in without a password; replaying that assertion,
    another origin and a counter that went back are refused."""
    ana = await register(http, unique, prefix="pk")
    authenticator = SoftAuthenticator()
    r = await http.post("/api/v1/me/passkeys/options", headers=ana.headers)
    assert r.status_code == 200, r.text
    options = r.json()
    assert options["rp"]["id"] == RP_ID
    r = await http.post("/api/v1/me/passkeys", headers=ana.headers,
                        json={"credential": authenticator.create(options)})
    assert r.status_code == 201, r.text
    again = await http.post("/api/v1/me/passkeys", headers=ana.headers,
                            json={"credential": authenticator.create(options)})
    assert again.status_code == 422 and again.json()["code"] == "passkey_challenge_invalid"

    r, assertion = await _sign_in(http, authenticator)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == ana.id
    me = await http.get("/api/v1/me", headers={"Authorization":
                                               f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200
    replay = await http.post("/api/v1/auth/passkey", json={"credential": assertion})
    assert replay.status_code == 422 and replay.json()["code"] == "passkey_challenge_invalid"
    r, _ = await _sign_in(http, authenticator, origin="http://evil.example")
    assert r.status_code == 401 and r.json()["code"] == "passkey_refused"
    r, _ = await _sign_in(http, authenticator, counter=1)  # a clone still at an old count
    assert r.status_code == 401 and r.json()["code"] == "passkey_refused"
    stranger = SoftAuthenticator()
    r, _ = await _sign_in(http, stranger)
    assert r.status_code == 401
    junk = await http.post("/api/v1/auth/passkey", json={"credential": {"response": 3}})
    assert junk.status_code == 422


async def test_passkey_as_the_second_step_after_a_password(http: httpx.AsyncClient,
                                                           unique: str) -> None:
    """With "passkey as second factor" on, the password alone gives only a challenge; the
    account's own passkey completes the sign-in, another person's passkey or a replay does
    not; turning it on needs the password and a registered passkey."""
    bo = await register(http, unique, prefix="p2")
    mine, other = SoftAuthenticator(), SoftAuthenticator()
    on = {"password": PASSWORD, "enabled": True}
    r = await http.put("/api/v1/me/passkeys/second-factor", headers=bo.headers, json=on)
    assert r.status_code == 409 and r.json()["code"] == "no_passkey"
    options = (await http.post("/api/v1/me/passkeys/options", headers=bo.headers)).json()
    r = await http.post("/api/v1/me/passkeys", headers=bo.headers,
                        json={"credential": mine.create(options)})
    assert r.status_code == 201, r.text
    wrong = await http.put("/api/v1/me/passkeys/second-factor", headers=bo.headers,
                           json={**on, "password": "not the password at all"})
    assert wrong.status_code == 422
    r = await http.put("/api/v1/me/passkeys/second-factor", headers=bo.headers, json=on)
    assert r.status_code == 200 and r.json() == {"enabled": True}

    login = await http.post("/api/v1/auth/login", json={"email": bo.email,
                                                        "password": PASSWORD})
    assert login.status_code == 200 and "access_token" not in login.json()
    step = login.json()
    assert step["two_factor_required"] is True and step["methods"] == ["passkey"]
    opts = (await http.post("/api/v1/auth/login/2fa/passkey/options",
                            json={"challenge": step["challenge"]})).json()
    assert [c["id"] for c in opts["allowCredentials"]] == [b64(mine.credential_id)]
    r = await http.post("/api/v1/auth/login/2fa/passkey",
                        json={"challenge": step["challenge"], "credential": other.get(opts)})
    assert r.status_code == 401 and r.json()["code"] == "passkey_refused"
    opts = (await http.post("/api/v1/auth/login/2fa/passkey/options",
                            json={"challenge": step["challenge"]})).json()
    assertion = mine.get(opts)
    r = await http.post("/api/v1/auth/login/2fa/passkey",
                        json={"challenge": step["challenge"], "credential": assertion})
    assert r.status_code == 200 and r.json()["user_id"] == bo.id, r.text
    replay = await http.post("/api/v1/auth/login/2fa/passkey",
                             json={"challenge": step["challenge"], "credential": assertion})
    assert replay.status_code == 422 and replay.json()["code"] == "passkey_challenge_invalid"
    code = await http.post("/api/v1/auth/login/2fa", json={"challenge": step["challenge"],
                                                           "code": "123456"})
    assert code.status_code in (401, 409), code.text  # no TOTP on this account
    events = (await http.get("/api/v1/me/security-events", headers=bo.headers)).json()
    kinds = [e["kind"] for e in (events["items"] if isinstance(events, dict) else events)]
    assert "passkey_second_factor_on" in kinds and "second_factor_failed" in kinds


async def test_my_passkeys_listed_and_removed(http: httpx.AsyncClient, unique: str) -> None:
    """A reader sees their passkeys and whether one is asked at sign-in; removing one needs the
    password, someone else's or an unknown one is 404, and removing the last one turns the
    passkey step off so the password alone signs in again."""
    cy = await register(http, unique, prefix="p3")
    other = await register(http, unique, prefix="p4")
    r = await http.get("/api/v1/me/passkeys", headers=cy.headers)
    assert r.status_code == 200 and r.json() == {"passkeys": [], "second_factor": False}
    key = SoftAuthenticator()
    options = (await http.post("/api/v1/me/passkeys/options", headers=cy.headers)).json()
    made = await http.post("/api/v1/me/passkeys", headers=cy.headers,
                           json={"credential": key.create(options)})
    assert made.status_code == 201, made.text
    await http.put("/api/v1/me/passkeys/second-factor", headers=cy.headers,
                   json={"password": PASSWORD, "enabled": True})
    listed = (await http.get("/api/v1/me/passkeys", headers=cy.headers)).json()
    assert [k["id"] for k in listed["passkeys"]] == [made.json()["id"]]
    assert listed["second_factor"] is True
    pid = made.json()["id"]
    wrong = await http.post(f"/api/v1/me/passkeys/{pid}/remove", headers=cy.headers,
                            json={"password": "not the password at all"})
    assert wrong.status_code == 422
    theirs = await http.post(f"/api/v1/me/passkeys/{pid}/remove", headers=other.headers,
                             json={"password": PASSWORD})
    assert theirs.status_code == 404 and theirs.json()["code"] == "passkey_not_found"
    huge = await http.post("/api/v1/me/passkeys/99999999999999999999/remove",
                           headers=cy.headers, json={"password": PASSWORD})
    assert huge.status_code == 404
    gone = await http.post(f"/api/v1/me/passkeys/{pid}/remove", headers=cy.headers,
                           json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text
    assert (await http.get("/api/v1/me/passkeys", headers=cy.headers)).json() == {
        "passkeys": [], "second_factor": False}
    login = await http.post("/api/v1/auth/login", json={"email": cy.email,
                                                        "password": PASSWORD})
    assert login.status_code == 200 and "access_token" in login.json()
