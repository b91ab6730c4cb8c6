"""Create a secret GitHub gist holding a prototxt, for Netscope's ``#/gist/ID`` view (urllib only)."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import SenetProtoError, UsageError

API_ENV = "SENET_PROTO_GITHUB_API"
DEFAULT_API = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"


class GistError(SenetProtoError):
    """GitHub refused or could not be reached."""


@dataclass(frozen=True)
class Gist:
    id: str
    html_url: str

    @property
    def netscope_url(self) -> str:
        from .netscope import GIST_URL

        return GIST_URL.format(id=self.id)


def api_base() -> str:
    return os.environ.get(API_ENV, DEFAULT_API).rstrip("/")


def token_from_env() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(f"--gist needs a GitHub token with the 'gist' scope in ${TOKEN_ENV}")
    return token


def create_gist(filename: str, content: str, token: str, description: str = "", timeout: float = 30) -> Gist:
    """POST /gists with one file, ``public: false`` (a secret gist); return its id and page."""
    body: dict[str, Any] = {"description": description, "public": False, "files": {filename: {"content": content}}}
    req = urllib.request.Request(
        f"{api_base()}/gists",
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": "senet-proto",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = ""
        with contextlib.suppress(ValueError, OSError, AttributeError):
            detail = str(json.loads(e.read().decode("utf-8")).get("message", ""))
        hint = " (is $GITHUB_TOKEN valid, with the 'gist' scope?)" if e.code in (401, 403, 404) else ""
        raise GistError(f"GitHub refused to create the gist: HTTP {e.code} {detail}{hint}".rstrip()) from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise GistError(f"cannot reach GitHub at {api_base()}: {reason}") from None
    except ValueError:
        raise GistError("GitHub answered with something that is not JSON") from None
    gist_id = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(gist_id, str) or not gist_id.isalnum():
        raise GistError("GitHub's answer has no gist id")
    return Gist(id=gist_id, html_url=str(payload.get("html_url", "")))
