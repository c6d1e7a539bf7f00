"""Keep freed memory in the process: glibc's malloc thresholds for training on a CPU.

Design
------
A training step allocates the same large tensors every step (activations, logits and their gradients)
and frees them when it ends. glibc's `malloc` serves a request above its mmap threshold with a fresh
`mmap` and returns it with `munmap` on `free` (the threshold adapts, but never above 32 MiB on 64-bit
Linux), and gives the heap's free top back to the kernel above its trim threshold. Either way the next
step writes to pages the process no longer has, and the kernel zero-fills each 4 KiB page on its first
write (a minor page fault). Measured on the default model (fp32, batch 16 × 256 tokens, 2 cores): ~39k
faults (~150 MB) a step, a tenth of the process's CPU time in the kernel, and DPO alike (docs/benchmarks.md,
"The allocator").

With both thresholds high, freed blocks stay in the heap and the next step reuses them: no faults, and
the same numbers to the last digit (the allocator decides where a tensor lives, not what is computed;
PyTorch aligns every CPU tensor to 64 bytes either way). It is what PyTorch's CPU performance guide gets
from jemalloc or tcmalloc ("reusing memory as much as possible"), without another library:
`mallopt(M_MMAP_THRESHOLD)` and `mallopt(M_TRIM_THRESHOLD)` for this process, and glibc's
`MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` variables for the processes it starts (accelerate's
ranks, datatrove's and Ray's workers), which glibc reads when they start.

The cost is memory the process keeps: blocks under the threshold are never unmapped, and up to
`threshold` bytes of free heap top stay mapped. A GPU run's tensors live in CUDA's caching allocator,
which already works this way, so there it changes little either way.

Left alone when the user chose: either variable already set (glibc applied it at start), a `malloc`
preloaded (`LD_PRELOAD` of jemalloc, tcmalloc, mimalloc), or `LLM_LIFECYCLE_MALLOC=default`. Not glibc
(macOS, musl): nothing to do.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import MutableMapping

logger = logging.getLogger(__name__)

THRESHOLD = 1 << 30  # bytes: 1 GiB, far above a CPU run's per-step tensors
ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
OPT_OUT = "LLM_LIFECYCLE_MALLOC"  # "default": leave glibc's thresholds as they are
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def glibc_version() -> str | None:
    """`"2.36"` under glibc, None under any other C library."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), an unknown name, musl
        return None
    return version if name == "glibc" else None


def why_not(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Why `keep_freed_memory` leaves the allocator alone (a sentence), or None when it would set it."""
    if environ.get(OPT_OUT, "").strip().lower() == "default":
        return f"{OPT_OUT}=default"
    chosen = [name for name in ENV_VARS if name in environ]
    if chosen or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return f"the environment sets the allocator ({', '.join(chosen) or 'GLIBC_TUNABLES'})"
    if "malloc" in environ.get("LD_PRELOAD", ""):
        return f"another allocator is preloaded ({environ['LD_PRELOAD']})"
    if glibc_version() is None:
        return "not glibc"
    return None


def keep_freed_memory(threshold: int = THRESHOLD, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Raise glibc's mmap and trim thresholds to `threshold` bytes in this process, and in `environ` for
    the processes it starts (module docstring). True when set; False when left alone (`why_not`)."""
    reason = why_not(environ)
    if reason is not None:
        logger.debug("malloc thresholds left as they are: %s", reason)
        return False
    libc = ctypes.CDLL(None)  # the symbols already loaded: the process's own libc
    if not (libc.mallopt(_M_MMAP_THRESHOLD, threshold) and libc.mallopt(_M_TRIM_THRESHOLD, threshold)):
        logger.warning("mallopt refused a threshold of %d bytes: malloc thresholds unchanged", threshold)
        return False
    for name in ENV_VARS:
        environ[name] = str(threshold)
    logger.info("malloc keeps freed blocks under %d bytes in this run (llm_lifecycle.allocator)", threshold)
    return True


def release_free_memory() -> bool:
    """Return the heap's free pages to the kernel now (glibc's `malloc_trim(0)`), so that the resident set
    counts what live objects use, not blocks this module keeps for reuse. True under glibc."""
    if glibc_version() is None:
        return False
    ctypes.CDLL(None).malloc_trim(0)
    return True
