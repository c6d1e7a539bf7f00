"""The toy world: an invented, seeded world of people and cities, and every raw input the default run needs.

The embedded default trains and evaluates on data about this world, so every answer can be checked
exactly and offline. Modules, from the bottom up:

- `world.py`: the world itself (people, cities, their facts, the syllables names are built from).
- `config.py`: the parameters (`conf/base/parameters_toy_world.yml`) and `world_from_config`.
- `grammar.py`: Russian plurals and the English article, shared by pages and instructions.
- Web corpus (input of `data_filtering`): `documents.py` assembles it from `fact_templates.py` (the
  sentences that state facts), `clean_pages.py`, `noise.py` (crawl noise) and `documents_text.py`
  (wording tables).
- Instructions (SFT, preference prompts, MT-Bench questions): `instructions.py` generates them with
  `sampler.py` (dialogues per task family), `held_out.py` (what SFT may not see) and
  `instruction_templates.py` (wording).
- Evaluation against the world: `cloze.py` (fact cloze probes for the pretrained model, cut from
  `fact_templates.py`) and `verifier.py` (the offline judge of answers against reference answers).

Everything is a pure function of the seed and the configuration: the same inputs give byte-identical
outputs on any machine.
"""
