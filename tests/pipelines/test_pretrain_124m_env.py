"""The pretraining environment as a user runs it: `--env pretrain_124m`, unmodified (`tests/rehearsal.py`).

Its two commands (docs/pretrain_124m.md) run on a copy of the project against a loopback stand-in for the
hub serving FineWeb-Edu's `sample-10BT` (English pages, clean and noisy, as 14 parquet files) and GPT-2's
tokenizer (a small byte-level BPE with `<|endoftext|>` as BOS, EOS and UNK), with `--params` that only
shrink steps, the batch (one 256-token block per rank), the depth (2 of 12 layers) and the processes (2
ranks over gloo instead of 8 GPUs). Each layer keeps its configured shape: hidden 768, GQA 12/4, SwiGLU
2304. A quick test holds the environment's configuration to the numbers docs/pretrain_124m.md gives.
"""

from __future__ import annotations

import collections
import json
import math
import sqlite3

import pytest
import yaml

from tests.kedro_project import config_loader
from tests.rehearsal import (
    EOT,
    FINEWEB_EDU_FILES,
    FINEWEB_EDU_ID,
    GPT2_ID,
    PRETRAIN_ENV,
    VAL_PAGES,
    rehearse_pretrain_124m,
)

DATA = f"data/{PRETRAIN_ENV}"


def _runs(db: sqlite3.Connection, pipeline: str) -> list[str]:
    return [
        run
        for (run,) in db.execute(
            "select r.run_uuid from runs r join tags t on r.run_uuid = t.run_uuid "
            "where t.key = 'pipeline' and t.value = ? and r.status = 'FINISHED'",
            (pipeline,),
        )
    ]


def _points(db: sqlite3.Connection, pipeline: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric point of the pipeline's one MLflow run: {key: [(step, value), ...]}."""
    (run,) = _runs(db, pipeline)
    points = collections.defaultdict(list)
    for key, step, value in db.execute("select key, step, value from metrics where run_uuid = ?", (run,)):
        points[key].append((int(step), float(value)))
    return {key: sorted(v) for key, v in points.items()}


def _one(points: dict[str, list[tuple[int, float]]], key: str) -> float:
    (value,) = [v for _, v in points[key]]
    return value


def _only_version(project, layer_name: str):
    (version,) = (project / DATA / layer_name).iterdir()
    return version / layer_name.rsplit("/", 1)[-1]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    with rehearse_pretrain_124m(tmp_path_factory.mktemp("pretrain_124m")) as result:
        yield result


@pytest.fixture(scope="module")
def db(rehearsal):
    with sqlite3.connect(rehearsal.project / "mlflow.db") as conn:
        yield conn


@pytest.mark.slow
def test_both_commands_of_the_environment_run_unmodified(rehearsal, db):
    for stage, run in rehearsal.runs.items():
        assert run.returncode == 0, f"{stage}:\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    assert list(rehearsal.runs) == ["data_filtering", "pretraining"]
    for stage in rehearsal.runs:  # one MLflow run per command, whatever the number of ranks
        assert len(_runs(db, stage)) == 1, stage


@pytest.mark.slow
def test_fineweb_edu_streams_through_the_english_filter_chain(rehearsal, db):
    from llm_lifecycle.datasets.shards import DocumentShards

    m = _points(db, "data_filtering")
    assert _one(m, "data_filtering.docs_in") == len(rehearsal.rows)
    assert 0 < _one(m, "data_filtering.docs_kept") < _one(m, "data_filtering.docs_in")
    assert "data_filtering.precision" not in m  # no noise labels: no made-up precision/recall
    # streamed: the 2 tasks read every parquet file of the config by ranges (footer, row groups)
    ranged = collections.Counter(path for path, _ in rehearsal.hub.ranges if path.startswith("sample/10BT/"))
    got = collections.Counter(p for repo, p in rehearsal.hub.downloads if repo == FINEWEB_EDU_ID)
    assert len(ranged) == FINEWEB_EDU_FILES and all(got[p] <= ranged[p] for p in ranged)
    # the survivors are clean English pages, one of each group of copies (the first in input order, which
    # can be a copy when its original sits in a later file); the other languages and the noise are gone
    kind = {row["id"]: row["kind"] for row in rehearsal.rows}
    kept = list(DocumentShards(_only_version(rehearsal.project, "02_intermediate/filtered_documents.jsonl")))
    rejected = DocumentShards(_only_version(rehearsal.project, "02_intermediate/rejected_documents.jsonl"))
    assert {kind[d["id"]] for d in kept} <= {"clean", "exact_duplicate", "near_duplicate"}
    assert {d["lang"] for d in kept} == {"en"} and len({d["text"] for d in kept}) == len(kept)
    assert len(kept) >= 0.9 * sum(k == "clean" for k in kind.values())
    # dedup as datatrove's MinHash stages on disk (near_dedup.engine: datatrove): exact copies go with it
    assert "exact_dedup" not in {d["rule"] for d in rejected}
    rules = collections.Counter(d["rule"] for d in rejected)
    assert (
        rules["language_id"] > 0 and rules["near_dedup"] > 0 and sum(rules.values()) == len(kind) - len(kept)
    )


@pytest.mark.slow
def test_token_shards_are_written_once_with_gpt2s_marker_around_each_document(rehearsal, db):
    (folder,) = (rehearsal.project / DATA / "04_feature/token_shards").iterdir()  # no half-written .tmp_
    meta = json.loads((folder / "shards.json").read_text(encoding="utf-8"))
    eot = rehearsal.tokenizer.convert_tokens_to_ids(EOT)
    assert meta["tokenizer"]["bos_token_id"] == meta["tokenizer"]["eos_token_id"] == eot
    assert meta["vocab_size"] == len(rehearsal.tokenizer) and meta["token_dtype"] == "uint16"
    kept = _one(_points(db, "data_filtering"), "data_filtering.docs_kept")
    m = _points(db, "pretraining")
    train_docs, val_docs = (
        _one(m, "pretraining.data.train_documents"),
        _one(m, "pretraining.data.val_documents"),
    )
    assert train_docs + val_docs == kept and val_docs >= VAL_PAGES  # split by document, none lost
    assert meta["splits"]["train"]["documents"] == train_docs
    first = meta["splits"]["train"]["files"][0]["path"]
    import numpy as np

    tokens = np.fromfile(folder / first, dtype=np.uint16)
    ends = np.fromfile(folder / (first + ".index"), dtype="<u8")
    assert tokens[0] == eot and tokens[int(ends[0]) - 1] == eot  # <|endoftext|> text <|endoftext|>


@pytest.mark.slow
def test_pretraining_runs_on_two_ranks_and_the_node_logs_once(rehearsal, db):
    out = "".join(rehearsal.output("pretraining").split())  # the console log wraps long lines
    assert "--config_fileconf/pretrain_124m/accelerate/ddp.yaml--num_processes2" in out
    assert out.count("DistributedType.MULTI_CPU,2ranks") == 2  # both ranks (CPU: gloo, not NCCL)
    m = _points(db, "pretraining")
    assert _one(m, "pretraining.world_size") == 2 and _one(m, "pretraining.num_processes") == 2
    assert [s for s, _ in m["pretraining.train_loss"]] == [1, 2]  # written once, by the node
    assert [s for s, _ in m["pretraining.val_loss"]] == [0, 2]
    assert all(math.isfinite(v) for key in ("train_loss", "val_loss") for _, v in m[f"pretraining.{key}"])
    assert _one(m, "pretraining.tokens_seen") == 2 * 2 * 256  # 2 steps x 2 ranks x one 256-token block
    assert _one(m, "pretraining.mfu") > 0
    (run,) = (rehearsal.project / DATA / "06_models/pretraining_checkpoints").iterdir()
    assert sorted(p.name for p in run.iterdir()) == ["step_2"]  # rank 0 alone wrote


@pytest.mark.slow
def test_the_base_model_is_saved_once_with_the_configured_architecture(rehearsal, db):
    from transformers import AutoConfig, AutoTokenizer

    from llm_lifecycle.modeling.calculator import parameter_counts
    from llm_lifecycle.modeling.config import ModelSettingsForTokenizer

    conf = rehearsal.project / "conf"
    configured = yaml.safe_load((conf / PRETRAIN_ENV / "parameters_pretraining.yml").read_text())
    model = configured["pretraining"]["model"]
    assert (model["hidden_size"], model["n_layers"], model["n_heads"]) == (768, 12, 12)  # GPT-2 small
    path = _only_version(rehearsal.project, "06_models/base_model")
    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    saved = {
        "hidden_size": config.hidden_size,
        "n_layers": config.num_hidden_layers,
        "n_heads": config.num_attention_heads,
        "n_kv_heads": config.num_key_value_heads,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_position_embeddings,
        "tie_word_embeddings": config.tie_word_embeddings,
    }
    model = model | {"n_layers": 2}  # the rehearsal's --params
    assert saved == {k: v for k, v in model.items() if k != "vocab_size"}
    assert config.model_type == "llama" and config.vocab_size == len(tokenizer) == len(rehearsal.tokenizer)
    assert config.bos_token_id == config.eos_token_id == tokenizer.convert_tokens_to_ids(EOT)
    assert tokenizer.bos_token == tokenizer.eos_token == EOT  # the hub's tokenizer, saved with the model
    counts = parameter_counts(ModelSettingsForTokenizer(**model).for_tokenizer(tokenizer))
    m = _points(db, "pretraining")
    assert _one(m, "pretraining.params_total") == counts.total == _one(m, "architecture.default.params_total")
    generations = next((rehearsal.project / DATA / "08_reporting/base_model_generations.csv").iterdir())
    prompts = configured["pretraining"]["generation"]["prompts"]
    assert (generations / "base_model_generations.csv").read_text().count("\n") == len(prompts) + 1


@pytest.mark.slow
def test_the_hub_tokenizer_is_gpt2s_and_was_downloaded_once(rehearsal):
    served = rehearsal.tokenizer  # what AutoTokenizer makes of the repository's files
    assert type(served).__name__ == "GPT2Tokenizer"
    assert served.bos_token == served.eos_token == served.unk_token == EOT and served.pad_token is None
    assert served.convert_tokens_to_ids(EOT) == len(served) - 1  # the last id, as 50256 in GPT-2
    files = collections.Counter(path for repo, path in rehearsal.hub.downloads if repo == GPT2_ID)
    assert files and max(files.values()) == 1, files  # four nodes read it, HF_HOME's cache served three
    assert "model.safetensors" not in files  # the tokenizer only, never GPT-2's weights


MULTI_MACHINE = {  # what the `srun` of docs/pretrain_124m.md exports on every machine
    "PRETRAIN_NUM_PROCESSES": "16",
    "PRETRAIN_NUM_MACHINES": "2",
    "PRETRAIN_MAIN_IP": "node001",
    "PRETRAIN_MAIN_PORT": "29500",
    "PRETRAIN_JOB_DIR": "/shared/jobs/pretrain_124m",
}


def test_the_environments_settings_give_the_documented_run_and_take_machines_from_the_environment(
    monkeypatch,
):
    from llm_lifecycle.modeling.calculator import parameter_counts, training_flops_per_token
    from llm_lifecycle.pipelines.pretraining.nodes import PretrainingSettings

    def settings() -> PretrainingSettings:
        return PretrainingSettings.model_validate(config_loader(PRETRAIN_ENV)["parameters"]["pretraining"])

    for name in MULTI_MACHINE:
        monkeypatch.delenv(name, raising=False)
    cfg = settings()
    dist, train = cfg.distributed, cfg.train
    assert (dist.num_processes, dist.num_machines, dist.main_process_ip, dist.job_dir) == (8, 1, None, None)
    assert train.tokens_per_step * dist.num_processes == 524_288  # 8 GPUs x 16 x 1024 x 4
    assert train.max_steps * 524_288 == 2_516_582_400
    # GPT-2's vocabulary: the calculator's numbers in docs/pretrain_124m.md
    model = cfg.model.model_copy(update={"vocab_size": 50_257}).for_tokenizer(None)
    assert parameter_counts(model).total == 121_191_936
    assert training_flops_per_token(model, train.block_size) == 840_397_824
    for name, value in MULTI_MACHINE.items():
        monkeypatch.setenv(name, value)
    dist = settings().distributed  # what `kedro run` on machine 0 and `kedro join-job` elsewhere both read
    assert (dist.num_processes, dist.num_machines, dist.main_process_ip, dist.main_process_port) == (
        16,
        2,
        "node001",
        29500,
    )
    assert dist.job_dir == "/shared/jobs/pretrain_124m"
