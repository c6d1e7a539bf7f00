"""A versioned Kedro dataset around Hugging Face `save_pretrained` / `from_pretrained` directories.

kedro-datasets has no dataset that writes a model, tokenizer or PEFT adapter directory, and handing a
model between nodes through a MemoryDataset deep-copies it. This dataset writes the object to
`<filepath>/<version>/<name>/` (safetensors for weights) into a temporary directory first and renames
it into place, so a killed run never leaves a half-written version and never overwrites an old one.
Loading goes through the `Auto*` class for `kind` with `trust_remote_code=False`: a catalog entry can
never execute code shipped inside a model directory.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from llm_lifecycle.datasets.hub_access import hub_error
from llm_lifecycle.datasets.versions import newest_version_path

# kind -> class whose from_pretrained loads it. Imported lazily: the catalog must not import torch.
_LOADERS: dict[str, str] = {
    "tokenizer": "transformers.AutoTokenizer",
    "causal_lm": "transformers.AutoModelForCausalLM",
    "sequence_classification": "transformers.AutoModelForSequenceClassification",
    "peft_causal_lm": "peft.AutoPeftModelForCausalLM",
    "peft_sequence_classification": "peft.AutoPeftModelForSequenceClassification",
    "config": "transformers.AutoConfig",
}


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


class HFPretrainedDataset(AbstractVersionedDataset[Any, Any]):
    """Save anything with `save_pretrained(dir)`; load it with the `Auto*` class of `kind`.

    Catalog example::

        tokenizer:
          type: llm_lifecycle.datasets.HFPretrainedDataset
          filepath: ${globals:data_dir}/06_models/tokenizer
          kind: tokenizer
          versioned: true

    `with_tokenizer: true` loads `(model, tokenizer)` from the directory, the same pair a node saved.
    A hub repository is named with `repo_id` instead of `filepath` (Kedro makes every relative
    `filepath` absolute under the project, which would turn `meta-llama/Meta-Llama-3-8B` into a folder
    that does not exist): such an entry is read-only, counts as existing (it is resolved on load, from
    the local cache or the hub), and a failed load names the id and the state of `HF_TOKEN`
    (`datasets.hub_access`)::

        base_model:
          type: llm_lifecycle.datasets.HFPretrainedDataset
          repo_id: meta-llama/Meta-Llama-3-8B
          kind: causal_lm
          load_args: {dtype: bfloat16}
    """

    def __init__(
        self,
        filepath: str | None = None,
        *,
        repo_id: str | None = None,
        kind: str = "causal_lm",
        with_tokenizer: bool = False,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if (filepath is None) == (repo_id is None):
            raise DatasetError(
                "HFPretrainedDataset: give either `filepath` (a folder) or `repo_id` (the hub)"
            )
        if kind not in _LOADERS:
            raise DatasetError(
                f"HFPretrainedDataset({filepath or repo_id}): unknown kind {kind!r}; "
                f"use one of {sorted(_LOADERS)}"
            )
        if repo_id is not None and version is not None:
            raise DatasetError(
                f"HFPretrainedDataset({repo_id}): a hub repository is read-only, not versioned"
            )
        self._repo_id = repo_id
        super().__init__(filepath=PurePosixPath(filepath or repo_id), version=version)
        self._kind = kind
        self._with_tokenizer = with_tokenizer
        self._load_args = dict(load_args or {})
        # Remote code runs only if someone writes trust_remote_code: true in the catalog; never a default.
        self._load_args.setdefault("trust_remote_code", False)
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def hub_id(self) -> str | None:
        """The hub repository id this read-only entry names (`meta-llama/Meta-Llama-3-8B`), else None."""
        return self._repo_id

    def load(self) -> Any:
        path = self._repo_id or str(self._get_load_path())
        loader = _import(_LOADERS[self._kind])
        args = dict(self._load_args)
        if isinstance(args.get("quantization_config"), dict):  # QLoRA from YAML: {load_in_4bit: true, ...}
            from transformers import BitsAndBytesConfig  # needs the `qlora` extra (bitsandbytes) to run

            args["quantization_config"] = BitsAndBytesConfig(**args["quantization_config"])
        try:
            obj = loader.from_pretrained(path, **args)
            if not self._with_tokenizer:
                return obj
            # The (model, tokenizer) pair saved together loads together: the next stage gets the tokenizer
            # (and chat template) this model was trained with, not whatever the `tokenizer` entry holds.
            tokenizer = _import(_LOADERS["tokenizer"]).from_pretrained(
                path, trust_remote_code=args.get("trust_remote_code", False)
            )
        except OSError as exc:  # transformers' and huggingface_hub's "cannot get this repository" errors
            if self.hub_id is None:
                raise
            raise hub_error(self._kind.replace("_", " "), self.hub_id, exc) from exc
        return obj, tokenizer

    def save(self, data: Any) -> None:
        if self._repo_id is not None:
            raise DatasetError(f"{self}: read-only (hub repository {self._repo_id!r})")
        # A tuple such as (model, tokenizer) is written into one directory: `from_pretrained` of the
        # model and of the tokenizer, and `pipeline("text-generation", model=dir)`, all load it.
        parts = data if isinstance(data, tuple) else (data,)
        for part in parts:
            if not hasattr(part, "save_pretrained"):
                raise DatasetError(f"{self}: cannot save {type(part).__name__}: it has no save_pretrained()")
        target = Path(str(self._get_save_path()))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            for part in parts:
                part.save_pretrained(str(tmp), **self._save_args)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        if self.hub_id is not None:
            return True  # resolved on load (local cache or hub); a failed load names the id and token
        path = newest_version_path(self)
        return path is not None and path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": None if self._repo_id else str(self._filepath),
            "repo_id": self._repo_id,
            "kind": self._kind,
            "with_tokenizer": self._with_tokenizer,
            "version": self._version,
        }
