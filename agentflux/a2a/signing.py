"""Signed Agent Cards: JWS over the RFC 8785-canonical card, and a trust policy that checks them.

Signing is the a2a-sdk's (``a2a.utils.signing``): the payload is the card as
JSON with ``signatures`` removed and empty values dropped, canonicalized per
RFC 8785; the card carries the detached JWS (protected header and signature)
in ``signatures``. ``card_signer`` wraps it with the key from configuration;
``TrustPolicy`` verifies a card against trusted keys, chosen by the ``kid`` of
the signature's protected header. Only the configured keys are ever used: a
``jku`` in the header is not fetched, so a card cannot vouch for itself.

Configuration (``from_env``): ``AGENTFLUX_CARD_SIGNING_KEY`` (a PEM private key,
or a path to one), ``AGENTFLUX_CARD_SIGNING_KID`` and
``AGENTFLUX_CARD_SIGNING_ALG`` (default ``ES256``) to sign;
``AGENTFLUX_TRUSTED_KEYS`` (a JWKS document, or a path to one; each key needs a
``kid``) to refuse cards that are unsigned or whose signature does not verify.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from a2a.types import AgentCard
from a2a.utils.signing import (
    InvalidSignaturesError,
    NoSignatureError,
    ProtectedHeader,
    create_agent_card_signer,
    create_signature_verifier,
)
from jwt import PyJWK
from jwt.exceptions import InvalidKeyError

from agentflux.contract.errors import AgentfluxError, ConfigError

KeyLike = PyJWK | str | bytes
DEFAULT_ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")


class UntrustedCard(AgentfluxError):
    """A card refused by the trust policy; the message says why."""

    transient = False

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"agent card {name or '<unnamed>'!r} refused: {reason}")
        self.name = name
        self.reason = reason


def card_signer(key: KeyLike, *, kid: str, alg: str = "ES256") -> Callable[[AgentCard], AgentCard]:
    """A function returning a signed copy of a card (earlier signatures replaced)."""
    header: ProtectedHeader = {"kid": kid, "alg": alg, "jku": None, "typ": "JOSE"}
    protected = {k: v for k, v in header.items() if v is not None}
    sign = create_agent_card_signer(key, protected)  # type: ignore[arg-type]

    def signer(card: AgentCard) -> AgentCard:
        copy = AgentCard()
        copy.CopyFrom(card)
        copy.ClearField("signatures")
        return sign(copy)

    return signer


class TrustPolicy:
    """Trusted verification keys by ``kid``; ``verify`` raises ``UntrustedCard`` with the reason."""

    def __init__(self, keys: Mapping[str, KeyLike], *, algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS) -> None:
        if not keys:
            raise ConfigError("a trust policy needs at least one trusted key")
        self.keys = dict(keys)
        self._verify = create_signature_verifier(self._key, list(algorithms))

    def _key(self, kid: str | None, _jku: str | None) -> KeyLike:
        if kid is None or kid not in self.keys:
            raise InvalidKeyError(f"no trusted key with kid {kid!r}")
        return self.keys[kid]

    def verify(self, card: AgentCard) -> None:
        try:
            self._verify(card)
        except NoSignatureError:
            raise UntrustedCard(card.name, "it is not signed, and this trust policy requires a signature") from None
        except InvalidSignaturesError:
            kids = [_kid(s.protected) for s in card.signatures]
            raise UntrustedCard(
                card.name,
                f"no signature verifies with a trusted key (signatures name kid {kids}; trusted: {sorted(self.keys)}); "
                "the card was changed after signing or signed by someone else",
            ) from None

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | str) -> TrustPolicy:
        """From a JWKS document (``{"keys": [...]}``, each key with a ``kid``), or its JSON text."""
        data = json.loads(jwks) if isinstance(jwks, str) else jwks
        keys: dict[str, KeyLike] = {}
        for entry in data.get("keys", []):
            if "kid" not in entry:
                raise ConfigError("every trusted key in the JWKS needs a 'kid'")
            keys[entry["kid"]] = PyJWK(entry)
        return cls(keys)


def _kid(protected: str) -> str | None:
    from jwt.utils import base64url_decode

    try:
        return json.loads(base64url_decode(protected.encode())).get("kid")  # type: ignore[no-any-return]
    except ValueError:
        return None


def _read(value: str) -> str:
    path = Path(value)
    return path.read_text() if len(value) < 4096 and "\n" not in value and path.is_file() else value


def signer_from_env(environ: Mapping[str, str] | None = None) -> Callable[[AgentCard], AgentCard] | None:
    env = os.environ if environ is None else environ
    key = env.get("AGENTFLUX_CARD_SIGNING_KEY")
    if not key:
        return None
    kid = env.get("AGENTFLUX_CARD_SIGNING_KID")
    if not kid:
        raise ConfigError("AGENTFLUX_CARD_SIGNING_KEY is set but AGENTFLUX_CARD_SIGNING_KID is not")
    return card_signer(_read(key), kid=kid, alg=env.get("AGENTFLUX_CARD_SIGNING_ALG", "ES256"))


def trust_from_env(environ: Mapping[str, str] | None = None) -> TrustPolicy | None:
    env = os.environ if environ is None else environ
    jwks = env.get("AGENTFLUX_TRUSTED_KEYS")
    return TrustPolicy.from_jwks(_read(jwks)) if jwks else None
