"""Project commands for the `kedro` CLI: `compare-runs`, `seeds`, `join-job` (and Kedro's own `run`).

Kedro adds the `cli` group of `<package>.cli` to its commands; `run` is re-exported because Kedro then
also takes the project's run command from this module (`python -m llm_lifecycle` uses it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from kedro.framework.cli.project import run  # noqa: F401 - Kedro looks it up here

from llm_lifecycle.config_loader import project_config_loader
from llm_lifecycle.reporting.compare import DEFAULT_METRICS, DEFAULT_PARAMS


@click.group(name="llm_lifecycle")
def cli() -> None:
    """Commands of the llm_lifecycle project."""


def _project_settings(project: Path, env: str | None) -> tuple[str, str, str]:
    """(MLflow tracking URI, experiment name, data folder) of `env`."""
    from llm_lifecycle.config_loader import data_dir

    loader = project_config_loader(project, env)
    config = loader["mlflow"]
    return config["server"]["mlflow_tracking_uri"], config["tracking"]["experiment"]["name"], data_dir(loader)


@cli.command("compare-runs")
@click.option("--env", "-e", default=None, help="Kedro env whose mlflow.yml names the tracking server.")
@click.option(
    "--filter", "filter_string", default="", help="MLflow search filter, e.g. \"tags.scale = 'toy'\"."
)
@click.option("--metric", "-m", "metrics", multiple=True, help="Metric to compare (repeatable).")
@click.option("--param", "-p", "params", multiple=True, help="Parameter column (repeatable).")
@click.option("--last", "max_runs", default=5, show_default=True, help="Newest runs to compare.")
@click.option(
    "--output", default=None, help="Folder for the table and plot [<data_dir>/08_reporting/run_comparison]."
)
def compare_runs(env, filter_string, metrics, params, max_runs, output) -> None:  # noqa: PLR0917
    """Write a CSV table and a PNG plot comparing the newest MLflow runs side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from llm_lifecycle.reporting.compare import comparison_plot, runs_table

    project = Path.cwd()
    uri, experiment, data_dir = _project_settings(project, env)
    output = output or f"{data_dir}/08_reporting/run_comparison"
    metrics, params = list(metrics or DEFAULT_METRICS), list(params or DEFAULT_PARAMS)
    try:
        table = runs_table(uri, experiment, metrics, params, filter_string, max_runs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if table.empty:
        raise click.ClickException(f"no run in {experiment!r} matches {filter_string!r} with those metrics")
    folder = project / output / datetime.now(timezone.utc).strftime("%Y-%m-%dT%H.%M.%S")
    folder.mkdir(parents=True, exist_ok=False)  # a new folder per call: earlier comparisons are kept
    table.to_csv(folder / "runs.csv", index=False)
    comparison_plot(table, metrics).savefig(folder / "runs.png", dpi=110, bbox_inches="tight")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        click.echo(table.drop(columns=["start_time"]).to_string(index=False))
    click.echo(f"\nwritten: {folder / 'runs.csv'} and {folder / 'runs.png'}")


@cli.command("seeds")
@click.option("--seeds", "seeds", default="42,3,5,7,11", show_default=True, help="Comma-separated seeds.")
@click.option("--env", "-e", default=None, help="Kedro env of the runs (and of the runs it starts).")
@click.option(
    "--split",
    type=click.Choice(["test", "validation"]),
    default="test",
    show_default=True,
    help="MT-Bench test questions, or the validation questions settings are chosen on.",
)
@click.option(
    "--run/--no-run",
    "run_missing",
    default=True,
    show_default=True,
    help="Start `kedro run --params seed=N` for each seed without a finished run.",
)
@click.option("--rerun", is_flag=True, help="Run every seed again, even those with a finished run.")
@click.option("--output", default=None, help="Folder for the table and plot [<data_dir>/08_reporting/seeds].")
def seeds(seeds, env, split, run_missing, rerun, output) -> None:  # noqa: PLR0913, PLR0917
    """Run (or collect from MLflow) the default lifecycle once per seed; write one table and one plot."""
    import subprocess
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from llm_lifecycle.reporting.seeds import find_seed_runs, markdown, seeds_plot, seeds_table

    try:
        wanted = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise click.ClickException(f"--seeds must be integers separated by commas, got {seeds!r}") from exc
    project = Path.cwd()
    uri, experiment, data_dir = _project_settings(project, env)
    env_tag = env or "local"
    found = {} if rerun else find_seed_runs(uri, experiment, wanted, env_tag, split)
    for seed in wanted:
        if seed in found or not run_missing:
            continue
        command = [sys.executable, "-m", "kedro", "run", "--params", f"seed={seed}"]
        command += ["--env", env] if env else []
        click.echo(f"seed {seed}: no finished run; running {' '.join(command[2:])}")
        if subprocess.run(command, cwd=project, check=False).returncode != 0:
            raise click.ClickException(f"seed {seed}: `kedro run` failed; see its log above")
    runs = find_seed_runs(uri, experiment, wanted, env_tag, split)
    missing = [s for s in wanted if s not in runs]
    if missing:
        click.echo(f"no finished run with MT-Bench win rates for seeds {missing} (left out)", err=True)
    if not runs:
        raise click.ClickException(f"no finished run of env {env_tag!r} for seeds {wanted} in {experiment!r}")
    table = seeds_table({s: runs[s] for s in wanted if s in runs}, split)
    folder = project / (output or f"{data_dir}/08_reporting/seeds")
    folder = folder / datetime.now(timezone.utc).strftime("%Y-%m-%dT%H.%M.%S")
    folder.mkdir(parents=True, exist_ok=False)  # a new folder per call: earlier tables are kept
    table.to_csv(folder / "seeds.csv", index=False)
    seeds_plot(table).savefig(folder / "seeds.png", dpi=110, bbox_inches="tight")
    text = markdown(table)
    (folder / "seeds.md").write_text(
        f"`kedro seeds --seeds {','.join(map(str, wanted))} --split {split}"
        f"{' --env ' + env if env else ''}`\n\n{text}\n",
        encoding="utf-8",
    )
    with pd.option_context("display.width", 200):
        click.echo(text)
    click.echo(f"\nwritten: {folder / 'seeds.csv'}, {folder / 'seeds.png'} and {folder / 'seeds.md'}")


WORKERS = {  # stage parameter block -> the worker module its node launches
    "pretraining": "llm_lifecycle.training.pretraining.worker",
    "sft": "llm_lifecycle.training.alignment.worker",
    "dpo": "llm_lifecycle.training.alignment.worker",
}


@cli.command("join-job")
@click.option("--stage", type=click.Choice(sorted(WORKERS)), required=True, help="Whose job to join.")
@click.option("--machine-rank", type=int, required=True, help="This machine's rank (1 .. num_machines-1).")
@click.option("--env", "-e", default=None, help="Kedro env whose <stage>.distributed block to use.")
@click.option("--dry-run", is_flag=True, help="Print the launch command instead of running it.")
def join_job(stage, machine_rank, env, dry_run) -> None:
    """On machines 1..N-1: start this machine's ranks of the job that `kedro run` on machine 0 starts.

    The job folder (`<stage>.distributed.job_dir`) must be one every machine sees; the ranks wait for
    machine 0's node to write the job into it.
    """
    from llm_lifecycle.training.launch import DistributedSettings, launch_command, launch_env, run_logged

    project = Path.cwd()
    loader = project_config_loader(project, env)
    dist = DistributedSettings.model_validate(loader["parameters"][stage].get("distributed", {}))
    if dist.num_machines < 2 or not 0 < machine_rank < dist.num_machines:
        raise click.ClickException(
            f"{stage}.distributed.num_machines is {dist.num_machines}: --machine-rank must be 1 .. "
            f"{dist.num_machines - 1} (machine 0 runs `kedro run`)"
        )
    job = Path(str(dist.job_dir))
    command = launch_command(job, dist, module=WORKERS[stage], machine_rank=machine_rank)
    if dry_run:
        click.echo(" ".join(command))
        return
    job.mkdir(parents=True, exist_ok=True)
    code = run_logged(
        command,
        launch_env(dist.num_processes // dist.num_machines),
        job / f"launch-machine{machine_rank}.log",
        dist.timeout_s,
    )
    if code != 0:
        raise click.ClickException(
            f"the ranks of machine {machine_rank} failed (exit {code}); see the log above"
        )
