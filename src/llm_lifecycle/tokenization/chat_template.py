"""The Saiga chat format as a Jinja chat template, with assistant-only-loss markers.

Saiga (IlyaGusev/rulm) renders every message as `<s>{role}\n{content}</s>` with roles system, user and
bot (`assistant` and `human` are accepted and mapped to bot and user). The bot's content and its closing
`</s>` sit inside `{% generation %}` ... `{% endgeneration %}`, which is how transformers'
`apply_chat_template(return_assistant_tokens_mask=True)` (and TRL's `assistant_only_loss=True`) finds the
tokens that carry the loss: the model learns to answer and to stop, never to imitate the user.
BOS is written by the template itself; the tokenizer adds no special tokens on its own.
"""

from __future__ import annotations

SAIGA_ROLES = {"system": "system", "user": "user", "human": "user", "bot": "bot", "assistant": "bot"}

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
