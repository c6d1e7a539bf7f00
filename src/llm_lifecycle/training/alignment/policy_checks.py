"""The policy against its reference, on answers the policy samples: the KL that DPO and RLHF keep small.

DPO (Rafailov et al. 2023) and RLHF's RLOO both train a LoRA adapter on a frozen model whose
adapter-disabled self is the reference policy. What they optimise is held near that reference by a KL
term: implicit in DPO's β, explicit in RLOO's reward `RM − β·KL`. The logged rewards are log-ratios on
the *dataset's* answers; these tools measure the quantity the constraint is about, on the policy's own
samples:

- `sample_answer`: one answer at temperature 1 with top-k/top-p off (the policy's own distribution);
- `policy_and_reference_logps`: per-token log-probabilities of those tokens under the policy and with the
  adapter disabled;
- `estimate_kl`: Schulman's k1 estimate of the sequence KL, `mean over prompts of Σ_t log π/π_ref`,
  unbiased, and his k3 per token, `(r − 1) − log r` with r = π_ref/π, always ≥ 0.

Inputs go to the model's device (`devices.to_model_device`): after training the model may be on a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llm_lifecycle.chat_format import normalise_messages


def estimate_kl(  # noqa: PLR0914
    peft_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[Mapping[str, Any]]],
    max_new_tokens: int = 48,
    seed: int = 0,
) -> dict[str, float]:
    """Monte-Carlo KL(π ‖ π_ref) of the DPO policy from its reference, on answers the policy samples.

    For each prompt one answer y ~ π(·|x) is sampled (temperature 1, top-k/top-p off); then
    `KL ≈ mean over prompts of Σ_t [log π(y_t|x, y_<t) − log π_ref(y_t|x, y_<t)]`, an unbiased estimate
    of the sequence-level KL (Schulman's k1 estimator), with π_ref = the same model with the adapter
    disabled. The rewards TRL logs are log-ratios on the *dataset's* answers; this is the quantity the
    DPO objective's implicit KL constraint is about (the policy's own distribution). Returns
    `kl_seq` (nats per answer), `kl_per_token`, `kl_k3_per_token` (Schulman's low-variance, always ≥ 0
    estimator `(r - 1) - log r` with r = π_ref/π), and `n`.
    """
    import torch

    if not prompts:
        return {}
    model = peft_model
    model.eval()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    kl_seq, k1_tok, k3_tok, n_tok = [], 0.0, 0.0, 0
    try:
        for messages in prompts:
            out, n_answer = sample_answer(model, tokenizer, messages, max_new_tokens)
            if n_answer == 0:
                continue
            logp_pol, logp_ref = policy_and_reference_logps(model, out, n_answer)
            log_ratio = logp_pol - logp_ref  # log π/π_ref per sampled token
            kl_seq.append(float(log_ratio.sum()))
            k1_tok += float(log_ratio.sum())
            k3_tok += float((torch.exp(-log_ratio) - 1 + log_ratio).sum())
            n_tok += n_answer
    finally:
        torch.random.set_rng_state(generator_state)
    if not kl_seq:
        return {}
    return {
        "kl_seq": sum(kl_seq) / len(kl_seq),
        "kl_per_token": k1_tok / max(n_tok, 1),
        "kl_k3_per_token": k3_tok / max(n_tok, 1),
        "n": float(len(kl_seq)),
    }


def sample_answer(model: Any, tokenizer: Any, messages: Any, max_new_tokens: int) -> tuple[Any, int]:
    """One answer sampled at temperature 1, top-k/top-p off (the policy's own distribution).

    Returns the prompt + answer ids, shape (1, P + T), and the answer length T. The caller seeds torch."""
    import torch

    from llm_lifecycle.devices import to_model_device

    enc = tokenizer.apply_chat_template(
        normalise_messages(messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    enc = to_model_device(dict(enc), model)
    with torch.no_grad():
        out = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out, out.shape[1] - enc["input_ids"].shape[1]


def policy_and_reference_logps(peft_model: Any, ids: Any, n_answer: int) -> tuple[Any, Any]:
    """Per-token log-probabilities of the last `n_answer` tokens under the policy and under its reference
    (the same model with the adapter disabled): two CPU tensors of shape (n_answer,)."""
    import torch

    with torch.no_grad():
        logp_pol = token_logps(peft_model, ids, n_answer)
        with peft_model.disable_adapter():
            logp_ref = token_logps(peft_model, ids, n_answer)
    return logp_pol.cpu(), logp_ref.cpu()


def token_logps(model: Any, ids: Any, n_answer: int) -> Any:
    """Log-probabilities of the last `n_answer` tokens of `ids` (1, L) under `model`: shape (n_answer,)."""
    import torch

    from llm_lifecycle.devices import to_model_device

    ids = to_model_device(ids, model)
    logits = model(input_ids=ids).logits[0, -n_answer - 1 : -1].float()  # (T, V): position t predicts t+1
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[0, -n_answer:, None]).squeeze(-1)
