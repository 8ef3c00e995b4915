"""The paper's Table 2 on our DrawnConvos TEST split: zero-shot / SFT only / DPO only /
SFT+DPO, one run, same base (SmolLM2-135M-Instruct), scored by ``dialogdraw eval irpem``.

    .venv/bin/python bench/irpem_ablation.py [--out runs/irpem_ablation] [--sft-steps 700]
        [--sft-continue 300:5e-4 ...] [--pairs 300] [--eval-limit 300] [--threads 2]

Every stage is one of the project's own commands, run as a child process and written to
``commands.sh`` with its wall time, so the table can be re-made by hand:

1. ``train data``: 10,000 dialogues, seed 0 (SFT / RLHF / TEST = 6:3:1).
2. ``train sft``: LoRA on all 30 layers (``--lora-layers 15`` was the first recipe: 0.07 less
   ISA for two thirds of the step time), batch 8, short prompt, 4 turns. Each
   ``--sft-continue STEPS:LR`` adds one more run from the last adapter on a new shuffle
   seed, so a longer SFT can be made in pieces that each fit a session, and resumed.
3. ``train pairs``: two sampled answers of IRPEM(SFT) per RLHF turn, ranked against gold; the
   turns spread evenly over gold intents.
4. ``train dpo`` from the SFT adapter (SFT+DPO), and from the bare base (DPO only).
5. ``eval irpem`` of the four models on the same seeded TEST subset (int8, as shipped), and
   with ``--fp32-eval`` of SFT+DPO in float32 too, for the int8 cost (10 more minutes).
6. ``eval compare``: deltas to zero-shot, paired fixed/broken counts with sign-test
   p-values, per-intent accuracy table and plot.

After SFT, stages run two at a time on one core each (``commands.sh`` shows them as
``( ... ) &`` lanes): pairs beside the zero-shot and SFT evaluations, then DPO from SFT and
its evaluation beside DPO only and its evaluation. Decoding one sequence at a time leaves
two cores half idle: two 60-turn evaluations side by side took 99 s where one on both
cores took 70 s (1.4x the turns per second). The second lane's output goes to ``logs/``.

A stage whose output already exists is skipped (``--force`` reruns all), so an interrupted
run picks up where it stopped. The sizes are scaled to two CPU cores (timings in
``stage_seconds.json``; ``report.md`` sums the wall time).
``report.md`` in ``--out`` states the sizes used next to the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNS = (("zero-shot", None), ("SFT", "sft"), ("DPO only", "dpo-only"), ("SFT+DPO", "sft-dpo"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "irpem_ablation")
    p.add_argument("--dialogues", type=int, default=10_000)
    p.add_argument("--sft-steps", type=int, default=950)
    p.add_argument("--sft-lr", type=float, default=1e-3)
    p.add_argument(
        "--sft-continue",
        type=_steps_at_lr,
        action="append",
        default=[],
        metavar="STEPS:LR",
        help="one more SFT run from the last one's adapter (train sft --init-adapter), "
        "with the next shuffle seed; repeatable, e.g. --sft-continue 300:5e-4",
    )
    p.add_argument(
        "--lora-layers",
        type=int,
        default=None,
        help="LoRA on the last N decoder layers only (SFT and DPO only); default all",
    )
    p.add_argument("--pairs", type=int, default=300, help="RLHF turns sampled for pairs")
    p.add_argument("--dpo-epochs", type=float, default=1.0)
    p.add_argument("--dpo-lr", type=float, default=2e-4)
    p.add_argument("--dpo-sft-weight", type=float, default=1.0, help="RPO's NLL term on the chosen answer")
    p.add_argument(
        "--dpo-only-lr",
        type=float,
        default=5e-4,
        help="DPO from the bare base trains a fresh adapter: a higher rate, like SFT's",
    )
    p.add_argument("--eval-limit", type=int, default=300, help="TEST assistant turns scored")
    p.add_argument(
        "--fp32-eval",
        action="store_true",
        help="also score SFT+DPO without int8, for what int8 costs (~10 min on 2 cores)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rerun stages whose output exists")
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "bench" / "results" / "irpem_ablation",
        help="where the table, plot and commands are copied (committed)",
    )
    p.add_argument(
        "--ship",
        type=Path,
        help="also make the SFT+DPO adapter the shipped one in this folder "
        "(float16 + model card), e.g. engine/irpem/adapters/smollm2-drawnconvos",
    )
    a = p.parse_args()

    out = a.out.resolve()
    data, adapters, runs = out / "data", out / "adapters", out / "runs"
    dd = [sys.executable, "-m", "bot.cli"]
    shape = ["--dialogue-turns", "4", *(["--lora-layers", a.lora_layers] if a.lora_layers else [])]
    log = Stage(out, a.force, a.threads)

    log.run(
        Job(
            "data",
            data / "stats.json",
            dd + ["train", "data", "--out", data, "--dialogues", a.dialogues, "--seed", a.seed],
        )
    )
    # run 1 writes adapters/sft, run k > 1 adapters/sft-rk from run k-1's adapter
    sft_runs: list[Path] = []
    for k, (steps, lr) in enumerate([(a.sft_steps, a.sft_lr), *a.sft_continue], start=1):
        start = ["--init-adapter", sft_runs[-1]] if sft_runs else []
        sft_runs.append(adapters / ("sft" if k == 1 else f"sft-r{k}"))
        log.run(
            Job(
                "sft" if k == 1 else f"sft round {k}",
                sft_runs[-1] / "training.json",
                dd
                + [
                    "train",
                    "sft",
                    "--data",
                    data / "sft.jsonl",
                    *start,
                    "--out",
                    sft_runs[-1],
                    "--max-steps",
                    steps,
                    "--batch-size",
                    "8",
                    "--learning-rate",
                    lr,
                    "--seed",
                    a.seed + k - 1,
                    "--logging-steps",
                    "25",
                    *shape,
                ],
                threads_flag=True,
            )
        )
    sft = sft_runs[-1]
    pairs = out / "pairs" / "rlhf.jsonl"
    test = ["--data", data / "test.jsonl", "--limit", a.eval_limit, "--seed", a.seed]

    def evaluate(name: str, run_dir: str, weights: Path | str) -> Job:
        return Job(
            f"eval {name}",
            runs / run_dir / "report.json",
            dd + ["eval", "irpem", "--out", runs / run_dir, "--adapter", weights, *test],
        )

    dpo_common = [
        "--pairs",
        pairs,
        "--epochs",
        a.dpo_epochs,
        "--batch-size",
        "4",
        "--seed",
        a.seed,
        "--sft-weight",
        a.dpo_sft_weight,
        "--logging-steps",
        "5",
    ]
    # Decoding one sequence at a time leaves two cores half idle, so from here on the stages
    # run two at a time on one core each (1.4x the throughput of one on two, measured on eval)
    log.lanes(
        [
            Job(
                "pairs",
                pairs,
                dd
                + [
                    "train",
                    "pairs",
                    "--data",
                    data / "rlhf.jsonl",
                    "--adapter",
                    sft,
                    "--out",
                    pairs,
                    "--limit",
                    a.pairs,
                    "--seed",
                    a.seed,
                ],
            )
        ],
        [evaluate("zero-shot", "zero-shot", "none"), evaluate("SFT", "sft", sft)],
    )
    log.lanes(
        [
            Job(
                "sft-dpo",
                adapters / "sft-dpo" / "training.json",
                dd
                + [
                    "train",
                    "dpo",
                    "--sft-adapter",
                    sft,
                    "--out",
                    adapters / "sft-dpo",
                    "--learning-rate",
                    a.dpo_lr,
                    *dpo_common,
                ],
                threads_flag=True,
            ),
            evaluate("SFT+DPO", "sft-dpo", adapters / "sft-dpo"),
        ],
        [
            Job(
                "dpo-only",
                adapters / "dpo-only" / "training.json",
                dd
                + [
                    "train",
                    "dpo",
                    "--out",
                    adapters / "dpo-only",
                    "--learning-rate",
                    a.dpo_only_lr,
                    *shape,
                    *dpo_common,
                ],
                threads_flag=True,
            ),
            evaluate("DPO only", "dpo-only", adapters / "dpo-only"),
        ],
    )
    evals = [runs / ("zero-shot" if adapter is None else adapter) for _, adapter in RUNS]
    if a.fp32_eval:
        fp32 = runs / "sft-dpo-fp32"
        log.run(
            Job(
                "eval SFT+DPO fp32",
                fp32 / "report.json",
                dd + ["eval", "irpem", "--out", fp32, "--adapter", adapters / "sft-dpo", "--quantize", "none", *test],
            )
        )
    compare = out / "compare"
    log.run(Job("compare", None, dd + ["eval", "compare", *evals, "--names", *[n for n, _ in RUNS], "--out", compare]))

    # what DPO adds, paired on the same turns
    log.run(
        Job(
            "compare SFT vs SFT+DPO",
            None,
            dd
            + [
                "eval",
                "compare",
                runs / "sft",
                runs / "sft-dpo",
                "--names",
                "SFT",
                "SFT+DPO",
                "--out",
                out / "compare-dpo",
            ],
        )
    )
    shutil.copy2(compare / "per_intent_comparison.png", out / "per_intent_comparison.png")
    table = results_table(out)
    sft_records = [_load_json(path / "training.json") for path in sft_runs]
    report = write_report(out, a, log, table, sft_records, sys.argv[1:])
    a.results.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "per_intent_comparison.png", "commands.sh", "stage_seconds.json"):
        shutil.copy2(out / name, a.results / name)
    if a.ship:
        from training.ship import model_card, ship_adapter

        card = model_card(
            sft_records,
            _load_json(adapters / "sft-dpo" / "training.json"),
            table,
            (out / "commands.sh").read_text(encoding="utf-8"),
            _load_json(runs / "sft-dpo" / "report.json")["confusion"],
        )
        print(f"shipped adapter: {ship_adapter(adapters / 'sft-dpo', a.ship, card)}")
    print(report.read_text(encoding="utf-8"))
    return 0


@dataclass
class Job:
    """One stage: a project command, and the file whose existence means it is done."""

    name: str
    done: Path | None
    argv: list
    threads_flag: bool = False  # takes --threads (training); the others read [irpem] threads


class Stage:
    """Runs the stages as child processes; keeps their commands and wall times
    (``stage_seconds.json``: each stage's own time, and one ``at once: ...`` entry per group
    of lanes with the group's wall time, which the stages inside it do not add to)."""

    def __init__(self, out: Path, force: bool, threads: int) -> None:
        self.out, self.force, self.threads = out, force, threads
        out.mkdir(parents=True, exist_ok=True)
        self.times: dict[str, float] = _load_json(out / "stage_seconds.json")
        self.commands: list[str] = []

    def run(self, job: Job) -> None:
        """One stage on all ``threads``."""
        self.commands.append(self._command(job, self.threads))
        self._one(job, self.threads, None)

    def lanes(self, *lanes: list[Job]) -> None:
        """The lanes at the same time, each on its share of the threads; the jobs of a lane
        one after the other. The first lane prints to the terminal, the others to
        ``logs/<stage>.log``."""
        threads = max(1, self.threads // len(lanes))
        self.commands += [f"( {' && '.join(self._command(job, threads) for job in lane)} ) &" for lane in lanes]
        self.commands.append("wait")
        started = time.perf_counter()
        with ThreadPoolExecutor(len(lanes)) as pool:
            done = [
                pool.submit(self._lane, lane, threads, None if i == 0 else self.out / "logs")
                for i, lane in enumerate(lanes)
            ]
            ran = [f.result() for f in done]  # re-raises a lane's failure
        if any(ran):
            names = " + ".join(job.name for lane in lanes for job in lane)
            self.times[f"at once: {names}"] = round(time.perf_counter() - started, 1)
        self._save()

    def _lane(self, jobs: list[Job], threads: int, logs: Path | None) -> bool:
        ran = False
        for job in jobs:
            ran |= self._one(job, threads, logs)
        return ran

    @staticmethod
    def _argv(job: Job, threads: int) -> list[str]:
        return [str(x) for x in job.argv] + (["--threads", str(threads)] if job.threads_flag else [])

    def _command(self, job: Job, threads: int) -> str:
        """As commands.sh shows it: ``dialogdraw ...``, with the thread count of a decoding
        stage (it reads ``[irpem] threads``) in front."""
        argv = self._argv(job, threads)
        shown = " ".join(shlex.quote(x.replace(f"{ROOT}/", "")) for x in ["dialogdraw", *argv[3:]])
        decodes = argv[3:5] in (["eval", "irpem"], ["train", "pairs"])
        return f"DIALOGDRAW_IRPEM__THREADS={threads} {shown}" if decodes else shown

    def _one(self, job: Job, threads: int, logs: Path | None) -> bool:
        argv, shown = self._argv(job, threads), self._command(job, threads)
        if job.done is not None and job.done.exists() and not self.force:
            print(f"== {job.name}: done before ({job.done.relative_to(self.out)}), skipped", flush=True)
            return False
        sink = None
        if logs is not None:
            logs.mkdir(exist_ok=True)
            sink = (logs / f"{job.name.replace(' ', '_')}.log").open("w", encoding="utf-8")
        print(f"== {job.name}: {shown}" + (f"  (output: {_shown(Path(sink.name))})" if sink else ""), flush=True)
        started = time.perf_counter()
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "DIALOGDRAW_IRPEM__THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads),
        }
        try:
            subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=sink, stderr=sink)
        finally:
            if sink is not None:
                sink.close()
        self.times[job.name] = round(time.perf_counter() - started, 1)
        print(f"== {job.name}: {self.times[job.name]:.0f} s", flush=True)
        self._save()
        return True

    def _save(self) -> None:
        (self.out / "stage_seconds.json").write_text(json.dumps(self.times, indent=2) + "\n")
        (self.out / "commands.sh").write_text("\n".join(self.commands) + "\n", encoding="utf-8")

    def grouped(self) -> set[str]:
        """The stages that ran inside an ``at once`` group."""
        return {
            name
            for key in self.times
            if key.startswith("at once: ")
            for name in key.removeprefix("at once: ").split(" + ")
        }

    def wall_seconds(self) -> float:
        """The run's wall time: stages inside an ``at once`` group count through the group."""
        inside = self.grouped()
        return sum(v for k, v in self.times.items() if k not in inside)


def results_table(out: Path) -> str:
    """The measured part: the four models (and SFT+DPO in float32), paired tests, and the
    paper's numbers for scale. The report and the shipped model card both carry it."""
    compare = _load_json(out / "compare" / "report.json")
    fp32 = _load_json(out / "runs" / "sft-dpo-fp32" / "report.json")
    lines = [
        "| model | Intent Switch Acc. | Parameter Acc. | Structural Conformity | vs zero-shot: fixed / broken (p) |",
        "|---|---|---|---|---|",
    ]
    for run in compare["runs"]:
        paired = run.get("paired")
        vs = f"{paired['better']} / {paired['worse']} (p = {paired['p_value']:.2g})" if paired else "—"
        lines.append(
            f"| {run['name']} | {run['isa']:.3f} | {run['parameter_accuracy']:.3f} | "
            f"{run['structural_conformity']:.3f} | {vs} |"
        )
    if fp32:  # made with --fp32-eval
        lines.append(
            f"| SFT+DPO, float32 (no int8) | {fp32['isa']:.3f} | {fp32['parameter_accuracy']:.3f} | "
            f"{fp32['structural_conformity']:.3f} | |"
        )
    dpo_row = _load_json(out / "compare-dpo" / "report.json")["runs"][1]
    dpo_vs, params = dpo_row["paired"], dpo_row.get("paired_parameters")
    lines += [
        "",
        f"DPO over SFT, paired on the same turns: {dpo_vs['better']} turns fixed, {dpo_vs['worse']} "
        f"broken (sign test p = {dpo_vs['p_value']:.2g}).",
    ]
    if params:  # a compare made before parameters were paired has none
        lines[-1] += (
            f" Parameters, on the {params['shared']} turns where both chose the gold intent: "
            f"{params['better']} better, {params['worse']} worse (p = {params['p_value']:.2g})."
        )
    lines += [
        "",
        "Paper (its own IRPEM and data, for scale only): zero-shot 0.702 / 0.754 / 0.738, "
        "SFT+DPO 0.924 / 0.892 / 0.953.",
    ]
    return "\n".join(lines)


def write_report(
    out: Path, a: argparse.Namespace, log: Stage, table: str, sft_records: list[dict], argv: list[str]
) -> Path:
    """report.md: the table, the plot, and the sizes as the training records have them (a
    stage made in an earlier run keeps its own settings). ``sft_records``: the SFT runs'
    ``training.json``, first to last."""
    from engine.irpem.adapter import examples_seen, lora_span, sft_schedule

    n = _load_json(out / "compare" / "report.json")["runs"][0]["n"]
    sft = sft_records[-1]
    dpo = _load_json(out / "adapters" / "sft-dpo" / "training.json")
    dpo_only = _load_json(out / "adapters" / "dpo-only" / "training.json")
    sa, da = sft.get("arguments", {}), dpo.get("arguments", {})
    pairs_n = sum(1 for _ in (out / "pairs" / "rlhf.jsonl").open(encoding="utf-8"))
    lines = [
        "# IRPEM ablation (the paper's Table 2) on DrawnConvos TEST",
        "",
        table,
        "",
        "![per-intent accuracy](per_intent_comparison.png)",
        "",
        "## Sizes used (scaled to two CPU cores)",
        "",
        f"- DrawnConvos: {a.dialogues} dialogues, seed {a.seed}; TEST scored on a seeded subset of "
        f"{n} assistant turns, int8 linears as shipped.",
        f"- SFT: {sft.get('examples')} examples available, {sft_schedule(sft_records)}, batch "
        f"{sa.get('batch_size')} ({examples_seen(sft)} seen in all), "
        f"LoRA r {sa.get('lora_r')} on {lora_span(sft)}, precision "
        f"{sa.get('precision')!r} (bf16 autocast where the CPU has bf16 units); step {sft.get('step_seconds', {}).get('median')} s median; "
        f"last logged loss {(sft.get('log') or [{}])[-1].get('loss', float('nan')):.3f}.",
        f"- Pairs: {a.pairs} RLHF turns, spread evenly over gold intents, sampled twice from IRPEM(SFT) "
        f"-> {pairs_n} pairs.",
        f"- DPO: {da.get('epochs')} epoch, batch {da.get('batch_size')}, beta {da.get('beta')}, sigmoid loss + "
        f"{da.get('sft_weight')} x NLL of the chosen answer (RPO), lr {da.get('learning_rate')} from SFT "
        f"({dpo.get('step_seconds', {}).get('median')} s/step); DPO only: a fresh LoRA on the bare "
        f"base, lr {dpo_only.get('arguments', {}).get('learning_rate')}, same pairs (sampled from SFT: the "
        f"base alone rarely writes valid answers).",
        "- Zero-shot: the base with the full prompt (catalog included); the adapters use the short one.",
        "",
        "## Wall time per stage",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    inside = log.grouped()
    lines += [f"| {'↳ ' if k in inside else ''}{k} | {v:.0f} |" for k, v in log.times.items()]
    lines += [
        f"| total (wall; the stages of an 'at once' group ran side by side on one core each) | "
        f"{log.wall_seconds():.0f} |",
        "",
        # the bench's own arguments: --out alone would re-make a different recipe
        f"Commands: `commands.sh`. Re-make: `.venv/bin/python bench/irpem_ablation.py "
        f"{shlex.join([*argv, *([] if '--force' in argv else ['--force'])])}`.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _steps_at_lr(text: str) -> tuple[int, float]:
    steps, _, lr = text.partition(":")
    try:
        return int(steps), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STEPS:LR such as 300:5e-4, got {text!r}") from None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


if __name__ == "__main__":
    sys.exit(main())
