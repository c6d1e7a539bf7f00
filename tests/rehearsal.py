"""Dress rehearsal of the real-scale environment: `--env llama3_8b` run unmodified on tiny stand-ins.

A user of `conf/llama3_8b` exports `HF_TOKEN` and `OPENAI_API_KEY`, downloads MT-Bench's question file and
runs six commands. This runs exactly those commands, on a copy of the project whose `conf/` is the
repository's own (no catalog entry or parameter file rewritten), with only what a user can set:

- environment variables: `HF_ENDPOINT` points `huggingface_hub` (and so `transformers` and `datasets`)
  at a loopback stand-in for the hub (`tests/fake_hub.py`) serving, under the real ids,
  `meta-llama/Meta-Llama-3-8B` (gated, granted to the token: a 2-layer LLaMA whose tokenizer has
  LLaMA-3's special tokens, its BOS post-processor, no pad token and no chat template),
  `IlyaGusev/saiga_scored` (Saiga conversations with `opus_score`, as `train.parquet`) and
  `HuggingFaceFW/fineweb-2` (Russian pages under `data/rus_Cyrl/train/`, streamed); `OPENAI_BASE_URL`
  points teacher and judge at a loopback OpenAI-compatible server (`tests/fake_openai.py`) that injects
  429, 500, garbage, a timeout (`OPENAI_TIMEOUT_S`), a prompt too long for the context window and a
  reply cut off at `max_tokens`;
- the file a user downloads (`data/llama3_8b/01_raw/mt_bench/question.jsonl`);
- `--params` that shrink sizes (steps follow from the data through `epochs`, so few are needed).

Nothing is loaded from this machine's own caches: `HF_HOME` is empty at the start, and downloads land
there as `huggingface_hub` lays them out. On a machine with a CUDA GPU the same run trains and generates
on the GPU (bf16 where supported), which is how to rehearse there:

    python -m tests.rehearsal --workdir /tmp/rehearsal      # prints each command's outcome

`rehearse_pretrain_124m` does the same for `--env pretrain_124m` (docs/pretrain_124m.md): its two commands
against the hub stand-in alone, serving `HuggingFaceFW/fineweb-edu` (config `sample-10BT`: English pages,
clean and noisy, as 14 parquet files under `sample/10BT/` like the real config) and
`openai-community/gpt2` (a byte-level BPE trained here, laid out as the real repository: `<|endoftext|>`
last in the vocabulary and BOS, EOS and UNK by GPT2Tokenizer's defaults, since the repository's
tokenizer_config.json sets only `model_max_length`); `--params` shrink steps, batch and the processes:

    python -m tests.rehearsal --env pretrain_124m --workdir /tmp/rehearsal_124m
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.fake_hub import TOKEN, FakeHub, dataset_card, parquet_bytes, serve_fake_hub
from tests.fake_openai import TOO_LONG, FakeOpenAI, serve_fake_openai
from tests.kedro_project import ROOT, kedro, make_project

MODEL_ID = "meta-llama/Meta-Llama-3-8B"
SAIGA_ID = "IlyaGusev/saiga_scored"
FINEWEB_ID = "HuggingFaceFW/fineweb-2"
API_KEY = "sk-rehearsal-NEVER-IN-ANY-LOG-4242"
TIMEOUT_S = 3  # OPENAI_TIMEOUT_S: a reply slower than this is retried
SEED = 7
# LLaMA-3's named special tokens (its tokenizer also reserves 250 more; their ids do not matter here).
LLAMA3_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]

# The six README commands, each with the sizes a user would shrink for a smoke run. Lists cannot go
# through --params, so batch sizes stay as configured (1/4/16 for latency).
COMMANDS: list[tuple[str, str]] = [
    ("from_raw_data", ""),
    (
        "sft",
        "sft.train.max_steps=2,sft.train.eval_steps=2,sft.train.batch_size=2,sft.train.logging_steps=1",
    ),
    (
        # A random tiny model's answers are noise of any length: the 2.08 length-ratio rule would drop
        # every pair, so it is switched off here.
        "dpo",
        "preferences.student.max_new_tokens=12,preferences.student.batch_size=4,"
        "preferences.hygiene.max_length_ratio=null,dpo.train.logging_steps=1,dpo.train.eval_steps=1,"
        "dpo.kl_samples=2,dpo.kl_max_new_tokens=6",
    ),
    (
        "rlhf",
        "rlhf.eval_prompts=2,rlhf.reward_model.train.logging_steps=1,rlhf.policy.train.logging_steps=1,"
        "rlhf.policy.train.max_completion_length=6,rlhf.policy.train.grad_accum=1",
    ),
    ("mt_bench", "mt_bench.max_new_tokens=8,mt_bench.batch_size=4"),
    (
        "latency",
        "latency.harness.prompt_tokens=8,latency.harness.new_tokens=4,latency.harness.warmup=0,"
        "latency.harness.min_repeats=1,latency.harness.min_time_s=0,latency.ceiling_repeats=3",
    ),
]


@dataclass
class Rehearsal:
    """What a test inspects afterwards: the project folder, both stand-ins' request logs, the runs."""

    project: Path
    hub: FakeHub
    openai: FakeOpenAI
    saiga_rows: list[dict]
    fineweb_rows: list[dict]
    questions: list[dict]
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def output(self, stage: str) -> str:
        run = self.runs[stage]
        return run.stdout + run.stderr


def llama3_like_tokenizer(texts: list[str]):
    """A byte-level BPE (600 tokens) with LLaMA-3's special tokens and BOS post-processor, no chat
    template and no pad token, like `meta-llama/Meta-Llama-3-8B`'s tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=LLAMA3_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos = LLAMA3_SPECIALS[0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token="<|end_of_text|>", model_max_length=8192
    )


def _toy_world_data() -> tuple[list[dict], list[dict], list[dict]]:
    """Saiga rows, FineWeb-2 rows and MT-Bench questions written from the toy world (ru/en facts)."""
    from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
    from llm_lifecycle.toy_world.instructions import (
        InstructionsSettings,
        generate_instructions,
        generate_mt_bench_questions,
    )
    from llm_lifecycle.toy_world.world import make_world

    world = make_world(SEED, n_cities=4, n_people=12)
    cfg = InstructionsSettings(n_sft=160, n_mt_bench=8)
    saiga = [
        {**conv, "opus_score": 5 if i % 4 == 0 else 8 + i % 3}  # every 4th below sft.min_score 8
        for i, conv in enumerate(generate_instructions(world, cfg, SEED))
    ]
    docs, _ = generate_documents(world, DocumentsSettings(n_clean=80, ru_share=1.0), SEED)
    fineweb = [
        {"text": d["text"], "id": f"<urn:uuid:{i:08d}>", "language": "rus", "language_score": 0.99}
        for i, d in enumerate(docs)
    ]
    questions = [
        {k: q[k] for k in ("question_id", "category", "turns", "reference")}
        for q in generate_mt_bench_questions(world, cfg, SEED)
    ]
    return saiga, fineweb, questions


def publish_stand_ins(hub: FakeHub, workdir: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """Put the tiny model and both datasets on the fake hub under their real ids."""
    import torch

    from tests.conftest import make_tiny_llama

    saiga, fineweb, questions = _toy_world_data()
    texts = [r["text"] for r in fineweb] + [m["content"] for r in saiga for m in r["messages"]]
    tokenizer = llama3_like_tokenizer(texts)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    model = make_tiny_llama(tokenizer, max_position_embeddings=2048, bos_token_id=bos, eos_token_id=eos)
    model = model.to(torch.bfloat16)  # the hub checkpoint is bf16
    model.generation_config.bos_token_id, model.generation_config.eos_token_id = bos, eos
    folder = workdir / "stand-in-model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    hub.add_model_repo(MODEL_ID, folder, gated=True, tokens={TOKEN})

    default = [{"config_name": "default", "data_files": [{"split": "train", "path": "train.parquet"}]}]
    hub.add_dataset_repo(
        SAIGA_ID, {"README.md": dataset_card(default), "train.parquet": parquet_bytes(saiga)}
    )
    configs = [
        {"config_name": "rus_Cyrl", "data_files": [{"split": "train", "path": "data/rus_Cyrl/train/*"}]}
    ]
    half = len(fineweb) // 2
    hub.add_dataset_repo(
        FINEWEB_ID,
        {
            "README.md": dataset_card(configs),
            "data/rus_Cyrl/train/000_00000.parquet": parquet_bytes(fineweb[:half]),
            "data/rus_Cyrl/train/000_00001.parquet": parquet_bytes(fineweb[half:]),
        },
    )
    return saiga, fineweb, questions


def judge_or_teacher(body: dict) -> str:
    """GPT-4's stand-in: MT-Bench verdicts for judge prompts, a short answer for teacher prompts."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if '"[[A]]"' in system:
        return "Assistant A answers the question that was asked. [[A]]"
    if '"[[rating]]"' in system:
        return "Short and on topic. Rating: [[6]]"
    return "Ответ учителя: " + body["messages"][-1]["content"][:60]


def _is_judge(kind: str):
    marker = '"[[A]]"' if kind == "pair" else '"[[rating]]"'
    return lambda body: body["messages"][0]["role"] == "system" and marker in body["messages"][0]["content"]


def inject_faults(openai: FakeOpenAI, saiga: list[dict]) -> None:
    """Every fault the client must survive, on teacher prompts (known in advance) and judge prompts."""
    from llm_lifecycle.splits import PromptHoldoutSettings

    holdout = PromptHoldoutSettings(fraction=0.05, salt="preferences")  # as conf/llama3_8b/parameters.yml
    held = [r for r in saiga if holdout.holds_out(r)]
    prompts = list(dict.fromkeys(r["messages"][-2]["content"] for r in held))  # the last user turns
    if len(prompts) < 7:
        raise RuntimeError(f"only {len(prompts)} held-out preference prompts: make more Saiga rows")
    openai.fail(prompts[0], {"status": 429, "headers": {"Retry-After": "0"}})
    openai.fail(prompts[1], {"status": 500}, {"garbage": "<html>502 bad gateway</html>"})
    openai.fail(prompts[2], {"sleep": TIMEOUT_S + 2})  # the client gives up and asks again
    openai.fail(prompts[3], TOO_LONG)  # dropped and counted, asked once
    openai.fail(prompts[4], {"finish_reason": "length"})  # a cut-off chosen answer: dropped and counted
    openai.fail_matching(_is_judge("single"), {"status": 429, "headers": {"Retry-After": "0"}}, TOO_LONG)
    openai.fail_matching(_is_judge("pair"), {"status": 500}, {"garbage": '{"choices": []}'})


def run_commands(result, project: Path, env: dict, kedro_env: str, commands, stop_on_failure: bool) -> None:
    """`kedro run --env <kedro_env> --pipelines <stage> [--params ...]` for each command, as the README says;
    each run and its seconds go into `result.runs` / `result.seconds`."""
    for stage, params in commands:
        args = ["run", "--env", kedro_env, "--pipelines", stage] + (["--params", params] if params else [])
        start = time.monotonic()
        result.runs[stage] = kedro(args, cwd=project, env=env, timeout=900)
        result.seconds[stage] = time.monotonic() - start
        if stop_on_failure and result.runs[stage].returncode != 0:
            break


def environment(hub: FakeHub, openai: FakeOpenAI, home: Path) -> dict[str, str]:
    """What a user exports, with both services pointed at their loopback stand-ins."""
    return hub.env(
        home,
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=openai.base_url,
        OPENAI_TIMEOUT_S=str(TIMEOUT_S),
    )


@contextlib.contextmanager
def rehearse(workdir: Path, stop_on_failure: bool = True) -> Iterator[Rehearsal]:
    """Run the six commands in a fresh project copy under `workdir`; yields while the stand-ins still
    answer, so a caller can look at them."""
    workdir.mkdir(parents=True, exist_ok=True)
    project = make_project(workdir / "project")
    with serve_fake_hub() as hub, serve_fake_openai() as openai:
        openai.reply = judge_or_teacher
        saiga, fineweb, questions = publish_stand_ins(hub, workdir)
        inject_faults(openai, saiga)
        question_file = project / "data/llama3_8b/01_raw/mt_bench/question.jsonl"  # the README's curl
        question_file.parent.mkdir(parents=True)
        question_file.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions))
        result = Rehearsal(project, hub, openai, saiga, fineweb, questions)
        env = environment(hub, openai, workdir / "hf_home")
        run_commands(result, project, env, "llama3_8b", COMMANDS, stop_on_failure)
        yield result


# ------------------------------------------------------------------------ --env pretrain_124m

PRETRAIN_ENV = "pretrain_124m"
FINEWEB_EDU_ID = "HuggingFaceFW/fineweb-edu"
FINEWEB_EDU_CONFIG = "sample-10BT"
FINEWEB_EDU_FILES = 14  # sample/10BT/000_00000.parquet ... 013_00000.parquet, as on the hub
GPT2_ID = "openai-community/gpt2"
EOT = "<|endoftext|>"  # GPT-2's one special token: BOS, EOS and UNK
VAL_PAGES = 8  # clean pages whose ids hash into the 0.5% validation split (see `fineweb_edu_rows`)

# The two commands of docs/pretrain_124m.md with what a smoke run shrinks: 2 filtering tasks for 2 cores
# (14 in the environment); 2 optimizer steps of one block of 256 tokens per rank without accumulation
# (16 x 1024 x 4 per GPU in the environment: a step of the 83 M-parameter trunk on one CPU core takes
# ~12 s at one 1024-token block, ~3 s at 256); 2 processes instead of 8 (the DDP path with token shards, over
# gloo on a CPU); fewer generated tokens; 2 of the 12 layers (every layer is the same code; the 12-layer
# trunk's checkpoint and optimizer state are ~1 GB to write). The layer keeps its configured shape (hidden
# 768, GQA 12/4, SwiGLU 2304, 1024 positions, tied embeddings), sized for the stand-in's vocabulary.
PRETRAIN_COMMANDS: list[tuple[str, str]] = [
    ("data_filtering", "data_filtering.datatrove.tasks=2"),
    (
        "pretraining",
        "pretraining.train.max_steps=2,pretraining.train.batch_size=1,pretraining.train.grad_accum_steps=1,"
        "pretraining.train.block_size=256,pretraining.train.warmup_steps=1,"
        "pretraining.distributed.num_processes=2,pretraining.model.n_layers=2,"
        "pretraining.generation.max_new_tokens=8",
    ),
]


@dataclass
class PretrainRehearsal:
    """What a test of `--env pretrain_124m` inspects: the project, the hub stand-in, the rows it served."""

    project: Path
    hub: FakeHub
    rows: list[dict]
    tokenizer: object  # the stand-in GPT-2 tokenizer as AutoTokenizer loads it (a GPT2Tokenizer)
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def output(self, stage: str) -> str:
        run = self.runs[stage]
        return run.stdout + run.stderr


def gpt2_like_tokenizer_repo(texts: list[str], folder: Path, vocab_size: int = 1024) -> Path:
    """`openai-community/gpt2`'s tokenizer files, for a byte-level BPE trained on `texts`: tokenizer.json,
    vocab.json + merges.txt, tokenizer_config.json with only `model_max_length` (1024), and a config.json
    whose `model_type: gpt2` makes AutoTokenizer a GPT2Tokenizer, whose defaults make `<|endoftext|>` (the
    last id, as 50256 is GPT-2's) its BOS, EOS and UNK. No pad token, no chat template, no BOS added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([EOT])  # appended: the last id, as in GPT-2
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))  # vocab.json, merges.txt
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    vocab[EOT] = tok.token_to_id(EOT)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1024}))
    eot = tok.token_to_id(EOT)
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": tok.get_vocab_size(),
        "n_positions": 1024,
        "n_ctx": 1024,
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "bos_token_id": eot,
        "eos_token_id": eot,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def _split_rule() -> tuple[float, str]:
    """(val_fraction, salt) of the environment's token shards, read from its parameter files."""
    import yaml

    conf = ROOT / "conf"
    base = yaml.safe_load((conf / "base" / "parameters_pretraining.yml").read_text(encoding="utf-8"))
    env = yaml.safe_load((conf / PRETRAIN_ENV / "parameters_pretraining.yml").read_text(encoding="utf-8"))
    data = {**base["pretraining"]["data"], **env["pretraining"]["data"]}
    return float(data["val_fraction"]), str(data["salt"])


def fineweb_edu_rows(n_clean: int = 240, seed: int = SEED) -> list[dict]:
    """English toy-world pages with the crawl noise the filters catch (copies, boilerplate, gibberish, short
    pages, symbol soup, repetition, other languages) as FineWeb-Edu rows (its columns, `<urn:uuid:...>`
    ids). At the environment's 0.5% validation share a few hundred pages hold about one validation page,
    so `VAL_PAGES` clean pages get ids minted until they hash into validation (~13k of the real 2.6 M do).
    `token_count` is filled in by `publish_pretrain_stand_ins` with the stand-in tokenizer."""
    from llm_lifecycle.splits import is_heldout
    from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
    from llm_lifecycle.toy_world.world import make_world

    world = make_world(seed, n_cities=4, n_people=12)
    docs, labels = generate_documents(world, DocumentsSettings(n_clean=n_clean, ru_share=0.0), seed)
    rng = random.Random(seed)
    fraction, salt = _split_rule()

    def mint() -> str:
        return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"

    rows, held = [], 0
    for k, (doc, label) in enumerate(zip(docs, labels, strict=True)):
        doc_id = mint()
        if label["kind"] == "clean" and held < VAL_PAGES and k % 16 == 0:
            while not is_heldout(doc_id, fraction, salt):
                doc_id = mint()
            held += 1
        rows.append(
            {
                "text": doc["text"],
                "id": doc_id,
                "dump": "CC-MAIN-2024-10",
                "url": doc["url"],
                "file_path": f"s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/{k:05d}.warc.gz",
                "language": "en",
                "language_score": 0.97 if doc["lang"] == "en" else 0.4,
                "token_count": 0,
                "score": 3.2,
                "int_score": 3,
                "kind": label["kind"],  # the hidden label, for the test only: dropped before publishing
            }
        )
    return rows


def publish_pretrain_stand_ins(hub: FakeHub, workdir: Path) -> tuple[list[dict], object]:
    """FineWeb-Edu's sample-10BT and GPT-2's tokenizer on the fake hub under their real ids."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    rows = fineweb_edu_rows()
    folder = gpt2_like_tokenizer_repo([r["text"] for r in rows], workdir / "stand-in-gpt2")
    hub.add_model_repo(GPT2_ID, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    counter = Tokenizer.from_file(str(folder / "tokenizer.json"))  # GPT-2 counts: no markers added
    for row in rows:
        row["token_count"] = len(counter.encode(row["text"]).ids)
    served = [{k: v for k, v in r.items() if k != "kind"} for r in rows]
    configs = [
        {
            "config_name": FINEWEB_EDU_CONFIG,
            "data_files": [{"split": "train", "path": "sample/10BT/*"}],
        }
    ]
    files = {"README.md": dataset_card(configs, license="odc-by", language=["en"])}
    for i in range(FINEWEB_EDU_FILES):
        files[f"sample/10BT/{i:03d}_00000.parquet"] = parquet_bytes(served[i::FINEWEB_EDU_FILES])
    hub.add_dataset_repo(FINEWEB_EDU_ID, files)
    return rows, tokenizer


def pretrain_commands(num_processes: int = 2) -> list[tuple[str, str]]:
    """`PRETRAIN_COMMANDS`, with another number of processes (a machine with one GPU: 1)."""
    default = "pretraining.distributed.num_processes=2"
    return [
        (stage, params.replace(default, f"pretraining.distributed.num_processes={num_processes}"))
        for stage, params in PRETRAIN_COMMANDS
    ]


@contextlib.contextmanager
def rehearse_pretrain_124m(
    workdir: Path, stop_on_failure: bool = True, num_processes: int = 2
) -> Iterator[PretrainRehearsal]:
    """Run the environment's two commands in a fresh project copy under `workdir` against the hub
    stand-in (`HF_ENDPOINT`, an empty `HF_HOME`, a token as a user may export); yields while it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    project = make_project(workdir / "project")
    with serve_fake_hub() as hub:
        rows, tokenizer = publish_pretrain_stand_ins(hub, workdir)
        result = PretrainRehearsal(project, hub, rows, tokenizer)
        env = hub.env(workdir / "hf_home")
        run_commands(result, project, env, PRETRAIN_ENV, pretrain_commands(num_processes), stop_on_failure)
        yield result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", choices=["llama3_8b", PRETRAIN_ENV], default="llama3_8b")
    ap.add_argument("--workdir", type=Path, default=None, help="default: /tmp/<env>_rehearsal")
    ap.add_argument(
        "--num-processes",
        type=int,
        default=2,
        help=f"{PRETRAIN_ENV}: pretraining ranks (GPUs on a GPU machine)",
    )
    args = ap.parse_args()
    workdir = args.workdir or Path(f"/tmp/{args.env}_rehearsal")
    if args.env == PRETRAIN_ENV:
        session = rehearse_pretrain_124m(workdir, num_processes=args.num_processes)
    else:
        session = rehearse(workdir)
    with session as result:
        for stage, run in result.runs.items():
            verdict = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
            print(
                f"kedro run --env {args.env} --pipelines {stage}: {verdict} in {result.seconds[stage]:.0f} s"
            )
            if run.returncode != 0:
                print(run.stderr[-4000:])
        print(f"project: {result.project}")


if __name__ == "__main__":
    main()
