"""The Saiga chat format as a Jinja chat template, with assistant-only-loss markers.

Saiga (IlyaGusev/rulm) renders every message as `<s>{role}\n{content}</s>` with roles system, user and
bot (`assistant` and `human` are accepted and mapped to bot and user). The bot's content and its closing
`</s>` sit inside `{% generation %}` ... `{% endgeneration %}`, which is how transformers'
`apply_chat_template(return_assistant_tokens_mask=True)` (and TRL's `assistant_only_loss=True`) finds the
tokens that carry the loss: the model learns to answer and to stop, never to imitate the user.
BOS is written by the template itself; the tokenizer adds no special tokens on its own.
"""

from __future__ import annotations

SAIGA_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] in ['bot', 'assistant'] -%}"
    "{{ bos_token + 'bot\\n' }}"
    "{%- generation -%}{{ message['content'] + eos_token }}{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- elif message['role'] in ['user', 'human'] -%}"
    "{{ bos_token + 'user\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- elif message['role'] == 'system' -%}"
    "{{ bos_token + 'system\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- else -%}"
    "{{ raise_exception('unknown chat role: ' + message['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ bos_token + 'bot\\n' }}{%- endif -%}"
)


def ensure_chat_template(tokenizer, force: bool = False):
    """Give a hub tokenizer the Saiga template and a pad token when it has none (in place; returns it).

    A base model's tokenizer (e.g. meta-llama/Meta-Llama-3-8B) ships without a chat template, and
    without a pad token. SFT in the Saiga format needs both; the template renders with the tokenizer's
    own BOS/EOS (`<|begin_of_text|>`/`<|end_of_text|>` for LLaMA-3), and padding reuses EOS, which is
    safe because padded positions are masked out of attention and loss. `force` replaces an existing
    template (an instruct model's own format) with Saiga's.
    """
    if force or not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = SAIGA_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
