"""What a catalog entry says when the Hugging Face hub refuses it: which repository, and about the token.

Both hub-backed datasets (`HFPretrainedDataset` with a hub id, `HubDataset`) load lazily: Kedro builds the
catalog without touching the network, the missing-inputs check treats a hub id as present, and the first
`load()` is the first request. When that request fails (no network, a gated repository such as
`meta-llama/Meta-Llama-3-8B` without an accepted licence or without a token, a typo in the id), the
error names the repository and says whether `HF_TOKEN` is set (never its value), so the user knows which
of the three to fix. `huggingface_hub` itself reads the token from `HF_TOKEN` or `hf auth login`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kedro.io.core import DatasetError

# "owner/name" as the hub spells repository ids (no scheme, no further slash, not a local path)
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def looks_like_hub_id(path: str) -> bool:
    """True for `owner/name` that is not an existing local file or folder."""
    return bool(_HUB_ID.fullmatch(path)) and not Path(path).exists()


def token_hint() -> str:
    """Where the token stands, without its value."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set: only the local cache (HF_HOME) is read, and it does not hold this"
    if os.environ.get("HF_TOKEN", "").strip():
        return (
            "HF_TOKEN is set: check the network, the id, and that this token's account has accepted the "
            "repository's licence on its hub page (gated repositories such as meta-llama/*)"
        )
    return (
        "HF_TOKEN is not set: gated repositories (meta-llama/*) need `export HF_TOKEN=hf_...` (or "
        "`hf auth login`) from an account that accepted the licence on the repository's hub page"
    )


def hub_error(what: str, repo_id: str, exc: BaseException) -> DatasetError:
    """The error to raise when loading `repo_id` from the hub failed with `exc`."""
    detail = " ".join(str(exc).split())[:400]
    return DatasetError(
        f"cannot load {what} {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {detail}). "
        f"{token_hint()}."
    )
