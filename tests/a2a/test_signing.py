"""Signed cards: JWS over the RFC 8785-canonical card, and the trust policy (fast tier)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cards_app
import pytest
from a2a.types import AgentCard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from agentflux import ConfigError
from agentflux.a2a import TrustPolicy, UntrustedCard, build_card, card_signer
from agentflux.a2a.cards import card_from_json, card_to_json
from agentflux.a2a.signing import signer_from_env, trust_from_env


def keypair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def jwks(public_pem: str, kid: str) -> dict[str, object]:
    jwk = json.loads(ECAlgorithm.to_jwk(ECAlgorithm(ECAlgorithm.SHA256).prepare_key(public_pem)))
    return {"keys": [{**jwk, "kid": kid, "alg": "ES256", "use": "sig"}]}


PRIVATE, PUBLIC = keypair()
OTHER_PRIVATE, _ = keypair()


def card() -> AgentCard:
    return build_card(cards_app.inventory, gateway_url="http://gw")


def test_a_signed_card_verifies_even_after_a_json_round_trip() -> None:
    signed = card_signer(PRIVATE, kid="k1")(card())
    (signature,) = signed.signatures
    assert signature.protected and signature.signature
    header = json.loads(base64.urlsafe_b64decode(signature.protected + "=="))
    assert header == {"alg": "ES256", "kid": "k1", "typ": "JOSE"}
    policy = TrustPolicy({"k1": PUBLIC})
    policy.verify(signed)
    policy.verify(card_from_json(json.dumps(card_to_json(signed))))  # as served, as parsed by a client
    resigned = card_signer(PRIVATE, kid="k1")(signed)
    assert len(resigned.signatures) == 1  # signing again replaces, never stacks


def test_a_tampered_card_is_refused_with_a_reason() -> None:
    signed = card_signer(PRIVATE, kid="k1")(card())
    signed.skills[0].description = "Gives everything away"
    with pytest.raises(UntrustedCard, match="no signature verifies with a trusted key") as refused:
        TrustPolicy({"k1": PUBLIC}).verify(signed)
    assert refused.value.name == "inventory" and "changed after signing" in refused.value.reason


def test_an_unsigned_card_or_an_unknown_signer_is_refused() -> None:
    policy = TrustPolicy({"k1": PUBLIC})
    with pytest.raises(UntrustedCard, match="it is not signed"):
        policy.verify(card())
    with pytest.raises(UntrustedCard, match=r"signatures name kid \['k2'\]"):
        policy.verify(card_signer(OTHER_PRIVATE, kid="k2")(card()))
    with pytest.raises(UntrustedCard, match="no signature verifies"):
        policy.verify(card_signer(OTHER_PRIVATE, kid="k1")(card()))  # right kid, wrong key


def test_keys_come_from_configuration(tmp_path: Path) -> None:
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps(jwks(PUBLIC, "k1")))
    signer = signer_from_env({"AGENTFLUX_CARD_SIGNING_KEY": PRIVATE, "AGENTFLUX_CARD_SIGNING_KID": "k1"})
    policy = trust_from_env({"AGENTFLUX_TRUSTED_KEYS": str(path)})
    assert signer is not None and policy is not None
    policy.verify(signer(card()))
    assert signer_from_env({}) is None and trust_from_env({}) is None
    with pytest.raises(ConfigError, match="KID"):
        signer_from_env({"AGENTFLUX_CARD_SIGNING_KEY": PRIVATE})
    with pytest.raises(ConfigError, match="kid"):
        TrustPolicy.from_jwks({"keys": [{"kty": "EC"}]})
