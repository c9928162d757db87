"""The SDK's own checks: the keygen answer, one client signing from two threads, and
what reaches the caller when no answer, or an unreadable one, comes back."""

from __future__ import annotations

import hashlib
import socket
import threading
from typing import Any

import httpx
import pytest
from coincurve import PublicKey
from server_support import ORIGIN, RP_ID, Server, new_client

from cosigner.client import (
    ApiError,
    BadResponseError,
    ClientError,
    CosignerClient,
    KeyHandle,
    TransportError,
)
from cosigner.client.client import SCHEME_IDS, SchemeName
from cosigner.client.http import Api, b64u
from cosigner.keys import verifying_share
from cosigner.testing import SoftAuthenticator

DIGEST = hashlib.sha256(b"two threads, one client").digest()


def check_ecdsa(key: KeyHandle, digest: bytes, signature: bytes) -> None:
    recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered.format(compressed=True) == key.public_key


def rewrite_keygen(monkeypatch: pytest.MonkeyPatch, client: CosignerClient, **fields: str) -> None:
    post = client.api.post

    def rewritten(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        answer = post(path, body, token)
        return {**answer, **fields} if path.endswith("/keygen") else answer

    monkeypatch.setattr(client.api, "post", rewritten)


# -- keygen ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["ecdsa", "ed25519"])
def test_keygen_refuses_a_group_key_other_than_the_sum_of_the_shares(
    server: Server, monkeypatch: pytest.MonkeyPatch, scheme: SchemeName
) -> None:
    client = new_client(server)
    genuine = client.keygen(scheme)
    other = verifying_share(7, scheme_id=SCHEME_IDS[scheme])
    rewrite_keygen(monkeypatch, client, publicKey=b64u(other))
    with pytest.raises(ClientError, match="not the sum of the two verifying shares"):
        client.keygen(scheme)
    monkeypatch.undo()
    assert client.keygen(scheme) == genuine


@pytest.mark.parametrize("scheme", ["ecdsa", "ed25519"])
def test_keygen_refuses_an_answer_for_another_client_share(
    server: Server, monkeypatch: pytest.MonkeyPatch, scheme: SchemeName
) -> None:
    client = new_client(server)
    other = verifying_share(7, scheme_id=SCHEME_IDS[scheme])
    rewrite_keygen(monkeypatch, client, clientVerifyingShare=b64u(other))
    with pytest.raises(ClientError, match="another client verifying share"):
        client.keygen(scheme)


def test_keygen_refuses_a_relayer_share_that_is_no_point(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = new_client(server)
    rewrite_keygen(monkeypatch, client, relayerVerifyingShare=b64u(b"\x05" * 33))
    with pytest.raises(ClientError, match="relayer's verifying share is unusable"):
        client.keygen("ecdsa")


# -- presignature halves ---------------------------------------------------------------------


def test_two_threads_signing_with_one_half_held_take_different_halves(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both threads reach ``authorize`` together, and a refused one moves on before the other
    finishes: were they to name the same half, the refused one would drop the other's."""
    client = new_client(server)
    key = client.keygen("ecdsa")
    client.connect_session(key)
    assert client.refill_presignatures(key, 1) == 1
    post = client.api.post
    lock = threading.Lock()
    authorizes = 0
    together = threading.Barrier(2, timeout=60)
    answered = threading.Barrier(2, timeout=60)
    refused: list[str] = []
    refused_moved_on = threading.Event()

    def racing(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        nonlocal authorizes
        if threading.current_thread().name in refused:
            refused_moved_on.set()
        with lock:
            authorizes += path.endswith("/authorize")
            first = path.endswith("/authorize") and authorizes <= 2
        if not first:
            return post(path, body, token)
        together.wait()
        try:
            answer = post(path, body, token)
        except ApiError:
            refused.append(threading.current_thread().name)
            answered.wait()
            raise
        answered.wait()
        if refused:
            refused_moved_on.wait(60)
        return answer

    monkeypatch.setattr(client.api, "post", racing)
    results: dict[str, bytes | BaseException] = {}

    def sign(name: str) -> None:
        try:
            results[name] = client.sign_digest(key, DIGEST)
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=sign, args=(n,), name=n) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(results) == {"a", "b"}
    for result in results.values():
        assert isinstance(result, bytes), result
        check_ecdsa(key, DIGEST, result)
    assert refused == []


def test_a_half_is_put_back_when_no_answer_came(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = new_client(server)
    key = client.keygen("ecdsa")
    client.refill_presignatures(key, 2)
    oldest = client.oldest_presignature_id(key)
    post = client.api.post

    def unreachable(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        if path.endswith("/authorize"):
            raise TransportError("no answer")
        return post(path, body, token)

    monkeypatch.setattr(client.api, "post", unreachable)
    with pytest.raises(TransportError):
        client.sign_digest(key, DIGEST)
    assert client.presignatures_held(key) == 2
    assert client.oldest_presignature_id(key) == oldest
    monkeypatch.undo()
    check_ecdsa(key, DIGEST, client.sign_digest(key, DIGEST))
    assert client.presignatures_held(key) == 1
    assert client.oldest_presignature_id(key) != oldest


# -- transport and answers -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_server_is_a_transport_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    client = CosignerClient(url, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    with (
        client,
        pytest.raises(TransportError, match="no answer to /auth/passkey/options") as caught,
    ):
        client.register("alice")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_every_instance_unreachable_is_a_transport_error() -> None:
    urls = [f"http://127.0.0.1:{_closed_port()}" for _ in range(2)]
    client = CosignerClient(urls, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    with client, pytest.raises(TransportError) as caught:
        client.api.get("/readyz")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_bad_url_is_a_typed_error() -> None:
    with pytest.raises(ClientError, match="not a server URL"):
        CosignerClient("http://[::1", SoftAuthenticator(origin=ORIGIN))
    with pytest.raises(TransportError) as caught:
        Api(httpx.Client()).get("http://[::1/readyz")
    assert isinstance(caught.value.__cause__, httpx.InvalidURL)


def _answering(content: bytes, status: int = 200) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return httpx.Client(transport=httpx.MockTransport(handler), base_url=ORIGIN)


@pytest.mark.parametrize("content", [b"ok", b"", b"[1, 2]", b'"text"', b"null"])
def test_a_2xx_answer_that_is_no_json_object_is_a_bad_response(content: bytes) -> None:
    with pytest.raises(BadResponseError) as caught:
        Api(_answering(content)).post("/threshold-ecdsa/keygen", {})
    assert caught.value.code == "bad_response"


def test_an_error_answer_without_json_is_still_an_api_error() -> None:
    with pytest.raises(ApiError) as caught:
        Api(_answering(b"<html>bad gateway</html>", 502)).get("/readyz")
    assert (caught.value.status, caught.value.code) == (502, "")


def test_an_answer_without_a_field_the_sdk_reads_is_a_bad_response() -> None:
    client = CosignerClient(_answering(b"{}"), SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    with pytest.raises(BadResponseError, match="'publicKey'"):
        client.register("alice")
    with pytest.raises(BadResponseError, match="'sessionId'"):
        client.app_token = "token"
        client.connect_session(KeyHandle("ecdsa", "key", b"", 1))
