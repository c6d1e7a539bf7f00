"""llm_lifecycle: the whole life of a large language model as a Kedro 1.x project."""

__version__ = "0.1.0"
