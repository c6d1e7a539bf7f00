"""`from_raw_data`: filter the catalog's `raw_documents`, then measure the catalog's `tokenizer` on them.

For an environment whose catalog points `raw_documents` at real web text and `tokenizer` at a hub
tokenizer (`conf/llama3_8b`: a FineWeb-2 slice and LLaMA-3's tokenizer): the funnel, the rejected pages,
and how many bytes a token holds on what survived. It trains nothing, so it never writes to a read-only
hub entry. On the toy world the same run needs `kedro run --pipelines toy_world,tokenizer` first.

It is a module of its own (not only a registry entry) because `kedro run --pipelines X` and
`kedro registry describe X` import `llm_lifecycle.pipelines.X` to find a pipeline.
"""

from kedro.pipeline import Pipeline

from llm_lifecycle.pipelines.data_filtering import create_pipeline as data_filtering
from llm_lifecycle.pipelines.tokenizer import create_pipeline as tokenizer


def create_pipeline(**kwargs) -> Pipeline:
    return data_filtering() + tokenizer().only_nodes("tokenizer.report_tokenizer")
