"""Language-model probes: cloze (multiple-choice) scoring of toy-world facts, and greedy samples.

Cloze scoring (the LAMBADA / HellaSwag-style "rank the continuations" protocol, as in EleutherAI's
lm-evaluation-harness): for each item and candidate continuation, the model's summed log-probability
log p(candidate | prompt) = sum_t log p(c_t | prompt, c_<t). The predicted candidate is the argmax; a
tie with the answer counts as wrong (so an untrained model cannot score by ties). The item's chance level
is 1/len(candidates); accuracy is compared with the mean chance by an exact one-sided test on the number
of correct items, which under "the model guesses" is a Poisson binomial (a sum of independent
Bernoulli(chance_i)), computed exactly by dynamic programming: no scipy needed.

Inputs mirror pretraining (`packing.encode_documents`): a document is `<s> text </s>` with the tokenizer
adding nothing itself, so a scored sequence is `[bos] + ids(prompt + candidate)` (no EOS: the sentence
goes on). Model and tokenizer are any HF causal LM and tokenizer; no Kedro here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch


def _item_fields(item: Any) -> tuple[str, str, list[str], str, str]:
    get = item.get if isinstance(item, Mapping) else lambda k, d=None: getattr(item, k, d)
    return get("prompt"), get("answer"), list(get("candidates")), get("lang", ""), get("relation", "")


def _bos(tokenizer: Any) -> list[int]:
    bos = getattr(tokenizer, "bos_token_id", None)
    return [] if bos is None else [int(bos)]


def encode_continuation(tokenizer: Any, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) with `[bos] + context + continuation` the sequence to score.

    Token boundary: we tokenize the whole string `prompt + continuation` (that is how the sentence was
    tokenized inside a training document) and take the tokens after the prompt's own tokens, having
    checked that the prompt's tokenization is a prefix of the whole one. With the project's byte-level
    BPE this always holds when the continuation starts with a space (the pre-tokenizer splits before
    " word", so no merge crosses the boundary). If it does not (e.g. a continuation glued to the prompt's
    last word), we fall back to tokenizing the two parts separately and concatenating: the context is then
    the prompt's own tokens for every candidate, which is what makes their log-probabilities comparable,
    at the price of a token split the model may not have seen.
    """
    head = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"])
    if len(full) > len(head) and full[: len(head)] == head:
        tail = full[len(head) :]
    else:
        tail = list(tokenizer(continuation, add_special_tokens=False)["input_ids"])
    if not tail:
        raise ValueError(f"continuation {continuation!r} adds no tokens to prompt {prompt!r}")
    return _bos(tokenizer) + head, tail


@torch.inference_mode()
def sequence_logprobs(
    model: Any, pairs: Sequence[tuple[list[int], list[int]]], pad_id: int = 0, batch_size: int = 32
) -> list[tuple[float, int]]:
    """(summed log-prob of the continuation, its token count) for each (context ids, continuation ids).

    Sequences are right-padded with an attention mask: in a causal model a real token never attends to
    the padding after it, and position ids count from 0 on the left, so padding changes nothing. Batches
    are formed from length-sorted sequences (less padding); results come back in input order.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(pairs)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [pairs[i][0] + pairs[i][1] for i in idx]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, : len(s)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)  # [b, width-1, vocab]: predicts token t+1
        target_lp = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).cpu()  # [b, width-1]
        for r, i in enumerate(idx):
            n_ctx, n_cont = len(pairs[i][0]), len(pairs[i][1])
            if n_ctx < 1:
                raise ValueError("a scored sequence needs at least one context token (BOS)")
            # continuation token at position p is predicted at position p-1
            out[i] = (float(target_lp[r, n_ctx - 1 : n_ctx - 1 + n_cont].sum()), n_cont)
    return out


def _was_training(model: Any) -> bool:
    training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    return training


def score_cloze(model: Any, tokenizer: Any, items: Iterable[Any], batch_size: int = 32) -> pd.DataFrame:
    """One row per item: the model's pick among the candidates by summed log-probability.

    `items`: `toy_world.cloze.ClozeItem`s (or mappings with prompt, answer, candidates, lang, relation).
    Columns: prompt, answer, predicted, correct (strictly best), rank (1 = best; ties counted against the
    answer), n_candidates, chance (1/n), lang, relation, logprob_answer, logprob_best_other,
    answer_tokens, correct_per_token (the pick by mean log-prob per token, a length-normalised variant),
    logprobs (candidate -> summed log-prob).
    """
    items = list(items)
    fields = [_item_fields(it) for it in items]
    pairs, owners = [], []
    for k, (prompt, answer, candidates, _, _) in enumerate(fields):
        if candidates.count(answer) != 1:
            raise ValueError(f"item {k}: the answer {answer!r} must be among the candidates exactly once")
        for cand in candidates:
            pairs.append(encode_continuation(tokenizer, prompt, cand))
            owners.append(k)
    pad = getattr(tokenizer, "pad_token_id", None)
    was_training = _was_training(model)
    try:
        scores = sequence_logprobs(model, pairs, pad_id=0 if pad is None else int(pad), batch_size=batch_size)
    finally:
        if was_training:
            model.train()
    rows, pos = [], 0
    for prompt, answer, candidates, lang, relation in fields:
        n = len(candidates)
        lp = dict(zip(candidates, (s for s, _ in scores[pos : pos + n]), strict=True))
        ntok = dict(zip(candidates, (t for _, t in scores[pos : pos + n]), strict=True))
        pos += n
        others = [v for c, v in lp.items() if c != answer]
        best_other = max(others) if others else -math.inf
        per_tok = {c: lp[c] / ntok[c] for c in candidates}
        rows.append(
            {
                "prompt": prompt,
                "answer": answer,
                "predicted": max(candidates, key=lambda c: lp[c]),
                "correct": bool(lp[answer] > best_other),
                "rank": 1 + sum(v >= lp[answer] for v in others),
                "n_candidates": n,
                "chance": 1.0 / n,
                "lang": lang,
                "relation": relation,
                "logprob_answer": lp[answer],
                "logprob_best_other": best_other,
                "answer_tokens": ntok[answer],
                "correct_per_token": bool(per_tok[answer] > max(v for c, v in per_tok.items() if c != answer))
                if n > 1
                else True,
                "logprobs": lp,
            }
        )
    return pd.DataFrame(rows)


def poisson_binomial_sf(k: int, probs: Sequence[float]) -> float:
    """P(X >= k) for X a sum of independent Bernoulli(p_i) (exact, O(n^2) dynamic programming)."""
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for i, p in enumerate(probs):
        # after i trials dist[:i+1] holds P(X = j); one more trial shifts mass p one step up
        dist[1 : i + 2] = dist[1 : i + 2] * (1 - p) + dist[: i + 1] * p
        dist[0] *= 1 - p
    return float(min(1.0, max(0.0, dist[max(k, 0) :].sum())))


def _accuracy_stats(correct: np.ndarray, chance: np.ndarray) -> dict[str, float]:
    n, k = len(correct), int(correct.sum())
    expected, var = float(chance.sum()), float((chance * (1 - chance)).sum())
    acc, mean_chance = k / n, float(chance.mean())
    return {
        "n": float(n),
        "accuracy": acc,
        "chance": mean_chance,
        "ratio": acc / mean_chance if mean_chance > 0 else math.nan,
        "z": (k - expected) / math.sqrt(var) if var > 0 else math.nan,
        "p_value": poisson_binomial_sf(k, chance.tolist()),
    }


def cloze_summary(df: pd.DataFrame) -> dict[str, float]:
    """Accuracy against chance, overall and per language and relation (flat keys, floats).

    accuracy = share of items whose answer is strictly best; chance = mean of 1/n_candidates;
    ratio = accuracy / chance; z = (correct - sum chance_i) / sqrt(sum chance_i (1 - chance_i)) (normal
    approximation); p_value = exact one-sided P(correct >= observed | the model guesses uniformly).
    Per group: `accuracy_<lang>`, `chance_<lang>`, `ratio_<lang>`, `p_value_<lang>`, and
    `accuracy_<lang>_<relation>` / `chance_<lang>_<relation>`. `accuracy_per_token` is the
    length-normalised variant's accuracy.
    """
    if df.empty:
        raise ValueError("no scored items")
    out = _accuracy_stats(df["correct"].to_numpy(bool), df["chance"].to_numpy(float))
    if "correct_per_token" in df:
        out["accuracy_per_token"] = float(df["correct_per_token"].mean())
    for lang, g in df.groupby("lang", sort=True):
        stats = _accuracy_stats(g["correct"].to_numpy(bool), g["chance"].to_numpy(float))
        for key in ("n", "accuracy", "chance", "ratio", "z", "p_value"):
            out[f"{key}_{lang}"] = stats[key]
    for (lang, rel), g in df.groupby(["lang", "relation"], sort=True):
        out[f"accuracy_{lang}_{rel}"] = float(g["correct"].mean())
        out[f"chance_{lang}_{rel}"] = float(g["chance"].mean())
    return out


@torch.inference_mode()
def generate_samples(
    model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 32, seed: int = 0
) -> pd.DataFrame:
    """Greedy continuations (`do_sample=False`) of each prompt, fed as `[bos] + ids(prompt)`.

    One prompt at a time (no padding, so no left/right padding subtleties); `seed` only fixes torch's
    RNG for models whose forward is stochastic in eval mode (greedy decoding itself is deterministic).
    Columns: prompt, completion (new tokens decoded, special tokens skipped), new_tokens, stopped (EOS).
    """
    device = next(model.parameters()).device
    eos = getattr(tokenizer, "eos_token_id", None)
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if pad is not None else eos
    rows = []
    was_training = _was_training(model)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for prompt in prompts:
                ids = _bos(tokenizer) + list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
                input_ids = torch.tensor([ids], dtype=torch.long, device=device)
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=eos,
                )
                new = out[0, input_ids.shape[1] :].tolist()
                rows.append(
                    {
                        "prompt": prompt,
                        "completion": tokenizer.decode(new, skip_special_tokens=True),
                        "new_tokens": len(new),
                        "stopped": eos is not None and eos in new,
                    }
                )
    finally:
        if was_training:
            model.train()
    return pd.DataFrame(rows, columns=["prompt", "completion", "new_tokens", "stopped"])
