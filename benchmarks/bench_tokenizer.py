"""Tokenizer training throughput: bare `tokenizers` trainer vs our node vs a Kedro pipeline run.

All three train the same byte-level BPE on the same corpus in the same process, interleaved, repeated
`--repeats` times; the medians are compared as ratios (absolute MB/s on a shared 2-core machine is
noise, the ratio is the evidence). Corpus: the toy world's clean documents (`--copies` concatenations
to make it bigger), or any JSONL with a `text` field via `--corpus`.

    python benchmarks/bench_tokenizer.py [--corpus data.jsonl] [--repeats 5] [--copies 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llm_lifecycle.datasets import HFPretrainedDataset
from llm_lifecycle.datasets.jsonl import read_jsonl
from llm_lifecycle.pipelines.tokenizer.nodes import train_tokenizer
from llm_lifecycle.pipelines.tokenizer.pipeline import create_pipeline
from llm_lifecycle.tokenization.train import TokenizerSettings


def toy_corpus(copies: int) -> list[dict]:
    from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
    from llm_lifecycle.toy_world.world import make_world

    docs, labels = generate_documents(make_world(42), DocumentsSettings(), 42)
    clean = {lab["id"] for lab in labels if lab["label"] == "clean"}
    base = [d for d in docs if d["id"] in clean]
    return [{**d, "id": f"{d['id']}-{c}"} for c in range(copies) for d in base]


def bare(texts: list[str], cfg: TokenizerSettings) -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=cfg.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)


def kedro_run(docs: list[dict], params: dict, out: Path) -> None:
    pipe = create_pipeline().only_nodes("train_tokenizer")
    catalog = DataCatalog(
        {
            "filtered_documents": MemoryDataset(docs, copy_mode="assign"),
            "params:tokenizer": MemoryDataset(params),
            "tokenizer": HFPretrainedDataset(str(out / f"tok-{time.perf_counter_ns()}"), kind="tokenizer"),
        }
    )
    SequentialRunner().run(pipe, catalog)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, help="JSONL with a text field (default: toy world)")
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()

    docs = list(read_jsonl(args.corpus, {"text": "str"})) if args.corpus else toy_corpus(args.copies)
    params = {"vocab_size": args.vocab_size, "heldout_fraction": 0.0}
    cfg = TokenizerSettings.model_validate(params)
    texts = [d["text"] for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    timings: dict[str, list[float]] = {
        "bare tokenizers trainer": [],
        "node function": [],
        "kedro pipeline run": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all three alike
            for name, fn in (
                ("bare tokenizers trainer", lambda: bare(texts, cfg)),
                ("node function", lambda: train_tokenizer(docs, params)),
                ("kedro pipeline run", lambda: kedro_run(docs, params, Path(tmp))),
            ):
                t0 = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - t0)
    base = statistics.median(timings["bare tokenizers trainer"])
    print(f"corpus: {len(texts)} documents, {mb:.2f} MB; vocab {args.vocab_size}; {args.repeats} repeats")
    print(f"{'variant':28s} {'median s':>9s} {'MB/s':>7s} {'vs bare':>8s}  spread (min-max s)")
    for name, ts in timings.items():
        med = statistics.median(ts)
        print(f"{name:28s} {med:9.3f} {mb / med:7.2f} {base / med:8.3f}  {min(ts):.3f}-{max(ts):.3f}")


if __name__ == "__main__":
    main()
