"""Typed configuration of the web-text filter chain (`conf/base/parameters_data_filtering.yml`).

One sub-model per rule, in the order the rules run. Threshold names and defaults follow datatrove's
blocks, which follow the papers: Gopher quality/repetition (Rae et al. 2021, table A1), C4 (Raffel et
al. 2020), FineWeb (Penedo et al. 2024); near-dedup is MinHash LSH (Broder 1997). Everything is
`extra="forbid"`: a misspelt threshold in YAML is an error at the node boundary, not a silent default.
This module imports nothing heavy, so Kedro can validate parameters without loading datatrove.

`executor` picks where the chain runs: `in_process` (the default: a loop in the Kedro process, the
documents as a list) or one of datatrove's executors, `local`, `slurm`, `ray` (the documents stream from
a reader to shards on disk; `llm_lifecycle.filtering.streaming`), configured by the `datatrove` block
(`llm_lifecycle.filtering.executors.ExecutorOptions`). `datatrove_local`, the earlier name of `local`,
is still accepted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_lifecycle.filtering.executors import ExecutorKind, ExecutorOptions, ExecutorSettings

# Lexemes a language's spaCy vocabulary may hold before it is rebuilt (a few hundred bytes each with the
# tokenizer cache: ~10 MB at the cap). A toy run adds ~4k per language; a web crawl adds words forever,
# and a larger cap only postpones the rebuild: memory grows with the corpus until the cap.
DEFAULT_MAX_VOCAB = 20_000

# Gopher's English stop words (Rae et al. 2021, appendix A1.1) as datatrove ships them.
EN_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# The most frequent Russian function words (prepositions, conjunctions, particles, pronouns): any real
# Russian sentence of some length contains a few, random strings and keyword lists do not.
RU_STOP_WORDS = [
    "и",
    "в",
    "во",
    "не",
    "на",
    "что",
    "с",
    "со",
    "как",
    "а",
    "по",
    "это",
    "к",
    "но",
    "из",
    "у",
    "за",
    "от",
    "о",
    "об",
    "же",
    "для",
    "так",
    "все",
    "его",
    "она",
    "он",
    "они",
    "мы",
    "вы",
    "я",
    "бы",
    "только",
    "уже",
    "или",
    "ещё",
    "если",
    "до",
    "при",
    "под",
    "где",
    "когда",
    "там",
    "вот",
    "этот",
    "очень",
    "есть",
    "был",
    "была",
    "который",
    "которая",
    "которые",
    "чтобы",
    "тоже",
    "также",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LanguageIdSettings(_Strict):
    """lingua-language-detector; candidates limited to a short list (faster and more accurate)."""

    enabled: bool = True
    allowed: list[str] = ["en", "ru"]  # ISO 639-1 codes kept
    candidates: list[str] = ["en", "ru", "uk", "de", "fr", "es"]  # languages lingua chooses among
    min_confidence: float = Field(0.65, ge=0, le=1)  # FineWeb keeps fastText scores >= 0.65
    max_chars: int = Field(2000, ge=50)  # a page's head decides its language; saves time on long pages

    @model_validator(mode="after")
    def _allowed_are_candidates(self) -> LanguageIdSettings:
        missing = [lang for lang in self.allowed if lang not in self.candidates]
        if missing:
            raise ValueError(f"language_id.allowed {missing} must also be in language_id.candidates")
        return self


class BoilerplateSettings(_Strict):
    """Share of lines that are menus, cookie/legal banners, login prompts (ru + en patterns)."""

    enabled: bool = True
    max_line_ratio: float = Field(0.5, ge=0, le=1)  # reject when more lines than this are boilerplate
    max_words_per_line: int = Field(25, ge=1)  # a keyword inside a longer line is prose, not a banner


class SymbolsSettings(_Strict):
    """Share of characters that are symbols (emoji-like pictographs, arrows, #, |, *, ...)."""

    enabled: bool = True
    max_symbol_char_ratio: float = Field(0.05, ge=0, le=1)


class GopherQualitySettings(_Strict):
    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1  # '#' and '...' per word
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    # datatrove's name; it is a minimum share of words with a letter. datatrove counts punctuation tokens as
    # words, so prose with short sentences (and Russian, rich in dashes) scores 0.67-0.85: 0.8 would
    # reject a quarter of it; 0.6 still rejects number tables and symbol soup.
    max_non_alpha_words_ratio: float | None = 0.6
    min_stop_words: int | None = 2


class GopherRepetitionSettings(_Strict):
    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]


class C4QualityConfig(_Strict):
    """C4's rules. FineWeb runs them with `filter_no_terminal_punct: false` and so do we: FineWeb's own
    line-punctuation ratio judges the page instead of deleting every line without a final period.
    Note that C4 edits the text it keeps (drops lines with too few words, "javascript" and policy lines)."""

    enabled: bool = True
    split_paragraph: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


class FineWebQualitySettings(_Strict):
    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class ExactDedupSettings(_Strict):
    enabled: bool = True


class NearDedupSettings(_Strict):
    """MinHash LSH over word n-gram shingles of the normalised text; candidates are confirmed with the
    estimated Jaccard similarity, so the LSH banding only decides which pairs get compared."""

    enabled: bool = True
    ngram: int = Field(5, ge=1)
    num_perm: int = Field(128, ge=16)
    threshold: float = Field(0.6, gt=0, lt=1)  # estimated Jaccard at which a page is a near duplicate
    lsh_threshold: float = Field(0.5, gt=0, lt=1)  # LSH banding, below `threshold`: few true pairs missed
    seed: int = 1
    # project: the blocks above, one task holding every kept page's signature (~8.7 KB each); datatrove:
    # datatrove's four MinHash stages on disk (memory flat in the corpus size; a bucket collision is a
    # duplicate, exact copies included). Only with a datatrove executor (filtering/streaming.py).
    engine: Literal["project", "datatrove"] = "project"

    @model_validator(mode="after")
    def _lsh_below_threshold(self) -> NearDedupSettings:
        if self.lsh_threshold > self.threshold:
            raise ValueError(
                "near_dedup.lsh_threshold must not exceed near_dedup.threshold "
                "(the LSH only proposes pairs; the threshold decides)"
            )
        return self


class FilteringSettings(_Strict):
    """`data_filtering` parameters. Rules run in the order of the fields below (dedup last)."""

    executor: ExecutorKind = "in_process"  # in_process | local | slurm | ray
    datatrove: ExecutorOptions = ExecutorOptions()  # tasks, workers, work_dir, local/slurm/ray options
    progress: bool = True  # tqdm bar over documents (in_process)
    default_language: str = "en"  # used for documents without a detected language (language_id off)
    # spaCy lexemes a language's word tokenizer keeps before it is rebuilt (`rules.SharedTokenizer`)
    word_tokenizer_max_vocab: int = Field(DEFAULT_MAX_VOCAB, ge=1000)
    stop_words: dict[str, list[str]] = {"en": EN_STOP_WORDS, "ru": RU_STOP_WORDS}

    language_id: LanguageIdSettings = LanguageIdSettings()
    boilerplate: BoilerplateSettings = BoilerplateSettings()
    symbols: SymbolsSettings = SymbolsSettings()
    gopher_quality: GopherQualitySettings = GopherQualitySettings()
    gopher_repetition: GopherRepetitionSettings = GopherRepetitionSettings()
    c4_quality: C4QualityConfig = C4QualityConfig()
    fineweb_quality: FineWebQualitySettings = FineWebQualitySettings()
    exact_dedup: ExactDedupSettings = ExactDedupSettings()
    near_dedup: NearDedupSettings = NearDedupSettings()

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        moved = sorted({"workers", "work_dir"} & set(data)) if isinstance(data, dict) else []
        if moved:
            raise ValueError(
                f"data_filtering.{moved[0]} moved: set data_filtering.datatrove.{moved[0]} "
                "(with tasks, workers, work_dir and the local/slurm/ray options)"
            )
        return data

    @field_validator("executor", mode="before")
    @classmethod
    def _former_name(cls, value: Any) -> Any:
        return "local" if value == "datatrove_local" else value

    @model_validator(mode="after")
    def _datatrove_dedup_streams(self) -> FilteringSettings:
        if self.near_dedup.engine == "datatrove" and self.executor == "in_process":
            raise ValueError(
                "near_dedup.engine: datatrove runs as datatrove stages: set data_filtering.executor to "
                "local, slurm or ray (or near_dedup.engine: project)"
            )
        return self

    @model_validator(mode="after")
    def _executor_has_its_settings(self) -> FilteringSettings:
        if self.executor != "in_process":
            try:
                self.executor_settings()
            except ValueError as exc:  # pydantic's error, re-raised under this block's key
                errors = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(f"data_filtering.datatrove: {errors}") from exc
        return self

    def executor_settings(self) -> ExecutorSettings:
        """`datatrove` options with `executor` as the kind (what `build_executor` takes)."""
        return ExecutorSettings(kind=self.executor, **self.datatrove.model_dump())

    @model_validator(mode="after")
    def _stop_words_for_every_language(self) -> FilteringSettings:
        langs = self.languages()
        if self.gopher_quality.enabled and self.gopher_quality.min_stop_words:
            missing = [lang for lang in langs if lang not in self.stop_words]
            if missing:
                raise ValueError(
                    f"stop_words has no list for {missing}; Gopher's stop-word rule needs "
                    "one per kept language"
                )
        return self

    def languages(self) -> list[str]:
        """Languages that reach the per-language rules (each gets its own filter instances)."""
        return list(self.language_id.allowed) if self.language_id.enabled else [self.default_language]
