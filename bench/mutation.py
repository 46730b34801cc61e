"""Mutation score of the modules whose numbers users trust, with mutmut 3 (one module and its own fast tests at a time).

Why per module in a scratch copy: mutmut reads its settings from `pyproject.toml` in the directory it runs in and
copies the tree to `mutants/` there, so each module gets a fresh copy of the working tree (tracked and untracked,
not ignored) with a `[tool.mutmut]` section naming that module alone and its test files; the repository itself is
never modified. mutmut forks one pytest process per mutant and runs only the tests that reach the mutated function.
Writes `bench/results/mutation.json`: per module the mutants, killed, survived (each with its diff) and the
explanation of each survivor judged equivalent (`EQUIVALENT` below, keyed by mutant name).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "bench" / "results" / "mutation.json"
SECONDS_FILE = "mutation-seconds"  # in a module's scratch copy: how long its run took


@dataclass(frozen=True)
class Target:
    module: str  # file to mutate, relative to the repository root
    tests: tuple[str, ...]  # the fast test files that own it
    functions: tuple[str, ...] = ("*",)  # mutmut's mangled names (x_fn, x?Class?method) of the math; "*": all
    skip_reason: str = ""  # non-empty: not run, and the JSON says why

    @property
    def patterns(self) -> list[str]:
        dotted = self.module.removesuffix(".py").replace("/", ".")
        return [f"{dotted}.{fn}__mutmut_*" for fn in self.functions]


TARGETS = (
    # blend.json is what Megatron reads: compute and run; the report table and the chart are for people.
    Target("data_prep/blend.py", ("tests/data_prep/test_blend_weights.py",), ("x_compute", "x__matches", "x_run")),
    Target(
        "data_prep/datamix.py",
        ("tests/data_prep/test_datamix.py", "tests/data_prep/test_datamix_validation.py"),
        ("x__fields", "x_load", "x__off", "x_validate"),
    ),
    Target("data_prep/dedup.py", ("tests/data_prep/test_curate_rules.py", "tests/data_prep/test_dedup_decisions.py")),
    Target(
        "evals/metrics.py",
        ("tests/evals/test_metrics.py", "tests/evals/test_normalised_score.py", "tests/evals/test_sea_rouge_tokens.py"),
    ),
    Target("recipes/core/word_tokens.py", ("tests/evals/test_metrics.py", "tests/evals/test_sea_rouge_tokens.py")),
    Target("evals/aggregate.py", ("tests/evals/test_aggregate.py", "tests/evals/test_bootstrap_interval.py")),
    # test_preflight.py composes a config per rule (about 4 s per mutant): only its two memory-model tests.
    Target(
        "recipes/submit/memory.py",
        (
            "tests/foundation/test_memory_terms.py",
            "tests/foundation/test_preflight.py::test_parameter_count_matches_the_real_270m_checkpoint",
            "tests/foundation/test_preflight.py::test_recompute_and_sequence_parallel_lower_the_activation_estimate",
            "tests/foundation/test_memory_measured.py::test_the_vocabulary_sized_terms_by_hand",
        ),
    ),
    Target(
        "recipes/core/model_size.py",
        (
            "tests/foundation/test_preflight.py::test_parameter_count_matches_the_real_270m_checkpoint",
            "tests/foundation/test_memory_terms.py",
        ),
    ),
    Target(
        "recipes/posttrain/rewards_math.py",
        ("tests/posttrain/test_rewards.py", "tests/posttrain/test_math_reward_edges.py"),
    ),
    Target(
        "recipes/posttrain/rl_loss.py",
        (
            "tests/posttrain/test_rl_loss.py",
            "tests/posttrain/test_rl_loss_masks.py",
            "tests/posttrain/test_rl_loss_edges.py",
            "tests/posttrain/test_loss_batches_by_hand.py",
            "tests/posttrain/test_vocab_shards_in_threads.py",
        ),
    ),
    # test_preference_loss.py's TRL comparison loads the real 270M (tens of seconds per mutant): its tensor tests.
    Target(
        "recipes/posttrain/preference_loss.py",
        (
            "tests/posttrain/test_preference_loss.py::test_tensor_function_matches_trl_formulas_and_apo_directions",
            "tests/posttrain/test_preference_loss.py::test_sample_mask_drops_pairs_and_odd_rows_are_refused",
            "tests/posttrain/test_apo_sft_term.py",
            "tests/posttrain/test_preference_loss_class.py",
            "tests/posttrain/test_loss_batches_by_hand.py",
            "tests/posttrain/test_vocab_shards_in_threads.py",
        ),
    ),
    # Its ranks as threads (test_vocab_shards_in_threads.py); test_vocab_parallel.py's two gloo processes over the
    # real 262144-token vocabulary take about 40 s a run (about 2 h over its 156 mutants): not run per mutant.
    Target(
        "recipes/posttrain/vocab_parallel.py",
        (
            "tests/posttrain/test_vocab_shards_in_threads.py",
            "tests/posttrain/test_loss_batches_by_hand.py",
            "tests/posttrain/test_preference_loss_class.py",
            "tests/posttrain/test_rl_loss_masks.py",
        ),
    ),
    Target(
        "recipes/posttrain/rewards_ifeval.py",
        ("tests/posttrain/test_rewards.py", "tests/posttrain/test_ifeval_constraints_by_hand.py"),
    ),
    # The document mergekit reads and the input checks, against tiny model directories (test_merging.py fine-tunes
    # the real 270M: minutes per mutant); not the multimodal split/reassemble plumbing, the CLI or load_settings.
    Target(
        "recipes/engines/mergekit_merge.py",
        ("tests/merge/test_merge_config_by_hand.py",),
        (
            "x__vocab_fingerprint",
            "x_fingerprint",
            "x__check_weight_headers",
            "x_check_compatible",
            "x__validate",
            "x_unfilled",
            "x_mergekit_config",
            "x_input_dirs",
        ),
    ),
    # In-process shards and merges (test_tokenize.py's pool runs take tens of seconds per mutant); not mutated: the
    # process pool's plumbing (_pool_results, _work, _init_worker), run (the two phases in a row) and the CLI;
    # mutmut leaves decorated functions alone (the lru_cache'd _file_sha256: file_sha256's cache key is mutated).
    Target(
        "data_prep/tokenize.py",
        ("tests/data_prep/test_tokenize_shards_by_hand.py",),
        (
            "x__safe",
            "x_file_sha256",
            "x_tokenizer_sha256",
            "x_settings_key",
            "x_resume_keys",
            "x_plan_shards",
            "x__read_lines",
            "x_load_fast_tokenizer",
            "x__key_of",
            "x__tokenize_shard",
            "x__merge",
            "x_tokenize_shards",
            "x_looks_like_path",
            "x_tokenizer_problem",
            "x_check_tokenizer",
            "x_merge",
        ),
    ),
)

# Lines not mutated (regexes, each statement whole): the text of error and log messages and the command line's help.
# They carry no number a user trusts; a mutant there changes wording only. The conditions that raise stay mutated.
MESSAGE_LINES = (r"^\s*raise \w+\(", r"^\s*log\.(debug|info|warning|error)\(", r"ArgumentParser\(", r"\.add_argument\(")

# Survivors judged equivalent after reading their diff: mutant name -> why no test can tell them apart.
_PLACEHOLDER = "a placeholder that is overwritten before anything reads it: "
EQUIVALENT: dict[str, str] = {
    "data_prep.blend.x_compute__mutmut_53": _PLACEHOLDER + "every entry's weight is set in the loop after the targets",
    "data_prep.blend.x_compute__mutmut_76": _PLACEHOLDER + "every entry's weight is set in the loop after the targets",
    **{
        f"data_prep.blend.x_compute__mutmut_{n}": _PLACEHOLDER + "compute returns no file paths; run sets them"
        for n in (86, 87, 88, 100, 101, 102)
    },
    **{
        f"data_prep.blend.x_run__mutmut_{n}": "JSON indentation only: the same document for every reader"
        for n in (52, 54, 55)
    },
    "data_prep.dedup.x_shingles__mutmut_8": "callers pass words = normalised_words(text): recomputing gives the same",
    **{
        f"data_prep.dedup.{name}": "passes words=None, so shingles recomputes normalised_words(text): the same words"
        for name in (
            "xǁDeduplicatorǁcheck__mutmut_29",
            "xǁDeduplicatorǁ_signature__mutmut_8",
            "xǁDeduplicatorǁ_signature__mutmut_13",
        )
    },
    **{
        f"data_prep.dedup.{name}": "'UTF-8' and 'utf-8' name the same codec"
        for name in ("x_shingles__mutmut_47", "xǁDeduplicatorǁcheck__mutmut_12")
    },
    **{
        f"data_prep.dedup.xǁDeduplicatorǁcheck__mutmut_{n}": "the exact-match key's length (16, 17 or 64 bytes of "
        "BLAKE2b): equal texts still share a key, and a collision stays astronomically unlikely"
        for n in (7, 13)
    },
    "data_prep.dedup.xǁDeduplicatorǁcheck__mutmut_10": "the exact-match key joins casefolded words with 'XX XX' "
    "instead of ' ': casefolded words hold no 'XX', so equal keys still mean equal word lists",
    **{
        f"recipes.core.word_tokens.x__is_punctuation__mutmut_{n}": "moves an ASCII range's end off a character that is "
        "class P anyway (! / : @ [ {), so the Unicode-class test still calls it punctuation"
        for n in (6, 7, 8, 10, 11, 12, 14, 15, 18, 19)
    },
    "recipes.core.word_tokens.x__is_punctuation__mutmut_13": "adds 'A' (65), which never reaches it: "
    "SeaRougeTokenizer lower-cases the text first",
    "recipes.core.word_tokens.x__is_punctuation__mutmut_21": "adds U+007F DELETE, a control character (Cc) "
    "that _basic_tokens drops before asking",
    **{
        f"recipes.core.word_tokens.x__is_cjk__mutmut_{n}": "moves a block's end onto or off an unassigned code point "
        "(class Cn: U+2A6E0, U+FAFF, U+2FA1F, U+2FA20), which _basic_tokens drops before asking"
        for n in (18, 21, 25, 26)
    },
    "recipes.core.word_tokens.x__burmese_syllables__mutmut_36": "the backward loop only empties positions it has "
    "passed, and the list is filtered for empty units next: None and '' are both dropped",
    **{
        f"evals.metrics.x_rouge_l__mutmut_{n}": "use_stemmer only configures rouge_score's default tokenizer, "
        "which a custom tokenizer replaces (rouge_score 0.1.2 rouge_scorer.py, RougeScorer.__init__)"
        for n in (8, 11, 16)
    },
    "recipes.core.word_tokens.x__thai_tokens__mutmut_7": "newmm is pythainlp's default word_tokenize engine "
    "(DEFAULT_WORD_TOKENIZE_ENGINE in pythainlp 5.4)",
    **{
        f"evals.aggregate.{name}": "a default of the Monte Carlo (seed 0 or 1, 1000 or 1001 resamples): any fixed "
        "value is as valid; the tests pin that the seed is used and reproducible, not one seed's draw"
        for name in (
            "x_bootstrap_ci__mutmut_1",
            "x_bootstrap_ci__mutmut_3",
            "x_aggregate__mutmut_1",
            "x_aggregate__mutmut_3",
        )
    },
    **{
        f"evals.aggregate.x_bootstrap_ci__mutmut_{n}": "dtype: the same indices are drawn from an int or a float "
        "array, and the means and quantiles come out as the same floats"
        for n in (6, 8)
    },
    "evals.aggregate.x_bootstrap_ci__mutmut_33": "replace=True is numpy Generator.choice's default",
    **{
        f"recipes.posttrain.rewards_math.x__boxed__mutmut_{n}": "math-verify 0.9.0 reads \\boxed{\\boxed{x}} as x, "
        "so boxing a gold answer that is boxed already parses the same"
        for n in (3, 4)
    },
    "recipes.posttrain.rewards_math.x_math_reward__mutmut_1": "the default time limit, 5 or 6 s: either bounds a "
    "hung comparison; the tests pin that the limit given is used",
    "recipes.posttrain.rewards_math.x_math_reward__mutmut_18": "the response read with math-verify's default "
    "extraction_config, which is the same LaTeX + plain-expression pair (math_verify/parser.py, parse)",
    "recipes.posttrain.rewards_math.x_math_reward__mutmut_44": "math-verify's parse returns [expression, text]: "
    "index +1 and -1 are the same item",
    **{
        f"recipes.posttrain.rl_loss.{name}": "sum/unsqueeze over axis +1 instead of -1 of a [batch, tokens] or "
        "[batch] tensor: the same axis"
        for name in (
            "x__aggregate__mutmut_13",
            "x__aggregate__mutmut_17",
            "x_clipped_policy_loss__mutmut_8",
            "x_clipped_policy_loss__mutmut_16",
            "xǁDrGRPOLossFnǁ__call____mutmut_58",
        )
    },
    **{
        f"recipes.posttrain.rl_loss.xǁDrGRPOLossFnǁ__call____mutmut_{n}": "a .to(device, float32) that loses only "
        "its device (device None keeps the tensor where it is): NeMo-RL hands the loss its batch on the logits' "
        "device; the dtype, which does matter, is pinned by test_loss_batches_by_hand.py"
        for n in (40, 42, 44, 50, 52, 65, 67, 73, 75, 97, 99, 107, 109)
    },
    **{
        f"recipes.posttrain.rl_loss.xǁDrGRPOLossFnǁ__call____mutmut_{n}": "generation_logprobs kept in the "
        "batch's dtype: it only enters the token_mult_prob_error metric (a Python float), whose float64 and float32 "
        "values differ in the seventh digit"
        for n in (74, 76)
    },
    **{
        f"recipes.posttrain.rl_loss.xǁDrGRPOLossFnǁ__call____mutmut_{n}": "a mask kept in the batch's dtype: "
        "clipped_policy_loss casts it to the log-probs' float32 first, and otherwise it only enters the "
        "token_mult_prob_error metric (a Python float, the same to the seventh digit)"
        for n in (43, 45, 51, 53)
    },
    **{
        f"recipes.posttrain.rl_loss.x_clipped_policy_loss__mutmut_{n}": "the zero KL term's dtype or device: "
        "float32 zeros on the loss's device either way, and adding a 0-dim zero changes no value"
        for n in (79, 80, 82, 83)
    },
    "recipes.posttrain.rl_loss.x_clipped_policy_loss__mutmut_11": "mask.to(None) keeps the mask's dtype; the class "
    "passes a float32 mask, and it only multiplies float tensors",
    **{
        f"recipes.submit.memory.x_estimate__mutmut_{n}": "whether the last stage also holds the output layer "
        "only matters with PP > 1, where it always does; with PP 1 the only stage holds every layer and the "
        "embedding already"
        for n in (10, 23, 25, 27, 28)
    },
    "recipes.submit.memory.x_estimate__mutmut_37": "fp8_weights is 0.0: adding or subtracting it is the same",
    "recipes.submit.memory.x_layers_per_stage__mutmut_23": "true division for the middle stages: on every layout "
    "preflight accepts the remainder divides evenly (it refuses the others before any estimate is shown), "
    "and 16.0 layers weigh what 16 do",
    "recipes.submit.memory.x_layers_per_stage__mutmut_25": "middle is only used for middle stages; with none "
    "(every stage is first or last) all sizes are overwritten",
    **{
        f"recipes.posttrain.preference_loss.xǁPreferenceLossFnǁ__call____mutmut_{n}": "a .to(device, float32) or "
        "zero that loses only its device (None keeps the tensor where it is): the batch is on the logits' device; "
        "the dtype is pinned by test_loss_batches_by_hand.py"
        for n in (37, 39, 41, 47, 49, 71, 73, 105, 107)
    },
    **{
        f"recipes.posttrain.preference_loss.xǁPreferenceLossFnǁ__call____mutmut_{n}": "the token mask kept in the "
        "batch's dtype: every use goes through sequence_logprobs, which casts it to the log-probs' float32 first"
        for n in (40, 42)
    },
    "recipes.posttrain.preference_loss.x_sequence_logprobs__mutmut_3": "mask.to(None) keeps the mask's dtype: the "
    "class passes a float32 mask, and it only multiplies float32 log-probs",
    **{
        f"recipes.posttrain.preference_loss.x_sequence_logprobs__mutmut_{n}": "sum over axis +1 instead of -1 of a "
        "[batch, tokens] tensor: the same axis"
        for n in (7, 14)
    },
    "recipes.posttrain.vocab_parallel.xǁ_SumOverShardsǁforward__mutmut_6": "op=SUM dropped: SUM is "
    "torch.distributed.all_reduce's default op",
    "recipes.posttrain.vocab_parallel.x_next_token_logprobs__mutmut_13": "the whole-vocabulary start 1 instead of "
    "0: read only on a shard, and both shard branches set it first",
    "recipes.posttrain.vocab_parallel.x_next_token_logprobs__mutmut_28": "targets.to(None) keeps them where they "
    "are: NeMo-RL's batch is on the logits' device",
    **{
        f"recipes.engines.mergekit_merge.x__vocab_fingerprint__mutmut_{n}": "the vocabulary's (token, id) pairs "
        "sorted by token instead of id: tokens are unique, so either is one canonical order of the same pairs; "
        "equal vocabularies still hash alike and different ones apart"
        for n in (13, 15)
    },
    **{
        f"data_prep.tokenize.x_settings_key__mutmut_{n}": "the names or order of the hashed settings: any fixed "
        "names in any fixed order give a key that changes exactly when a setting that shapes the shards does"
        for n in (2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 19, 20)
    },
    "data_prep.tokenize.x_plan_shards__mutmut_1": "the default key, '' or 'XXXX': it only salts the shard names; "
    "tokenize_shards always passes settings_key",
    "data_prep.tokenize.x_plan_shards__mutmut_22": "10 or 11 hex digits of the SHA-1 in a shard's name: a "
    "collision stays astronomically unlikely either way",
    **{
        f"data_prep.tokenize.x__tokenize_shard__mutmut_{n}": "the ids' numpy dtype before IndexedDatasetBuilder."
        "add_document, which casts them to the builder's dtype (megatron-core 0.16.1 indexed_dataset.py)"
        for n in (44, 46)
    },
    "data_prep.tokenize.x__tokenize_shard__mutmut_106": "flush at batch_size or batch_size + 1 documents: the "
    "batch size changes the speed, never the ids or their order",
    **{
        f"data_prep.tokenize.x_tokenize_shards__mutmut_{n}": "the progress bar's columns, label or total: display only"
        for n in (46, 47, 48, 49, 51, 52, 54, 55, 57, 58, 59, 61, 70)
    },
    "data_prep.tokenize.x_merge__mutmut_17": "_merge does not read its settings argument",
    **{
        f"data_prep.tokenize.x_merge__mutmut_{n}": "tokens.json's indentation: the same document for every reader"
        for n in (49, 51, 52)
    },
    "data_prep.dedup.xǁDeduplicatorǁ_best_match__mutmut_11": "ties between kept documents: LSH returns candidates "
    "in set order, so the original already names whichever comes first; naming the later one is as correct",
}


# Survivors that are NOT equivalent, with what is known about them: mutant name -> note.
NOTES: dict[str, str] = {}


@dataclass
class ModuleResult:
    module: str
    functions: list[str] = field(default_factory=list)  # what was mutated (mangled names; "*": every function)
    tests: list[str] = field(default_factory=list)  # the tests it was mutated against
    mutants: int = 0
    killed: int = 0
    timeout: int = 0  # the tests hung past mutmut's limit: caught, as mutmut's own score counts them
    survived: list[dict] = field(default_factory=list)
    other: dict[str, int] = field(default_factory=dict)  # timeout, suspicious, no tests, ...
    seconds: float = 0.0
    skipped: str = ""
    commit: str = ""  # last commit that touched the module when it was mutated

    @property
    def score(self) -> float:
        return (self.killed + self.timeout) / self.mutants if self.mutants else 0.0

    @property
    def score_without_equivalents(self) -> float:
        """Caught over the mutants that a test could catch at all (equivalent survivors left out)."""
        testable = self.mutants - sum(1 for s in self.survived if s["equivalent"])
        return (self.killed + self.timeout) / testable if testable else 0.0


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def _scratch_copy(target: Target, root: Path) -> Path:
    work = root / target.module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(work, ignore_errors=True)
    for name in _git("ls-files", "-co", "--exclude-standard", "-z").split("\0"):
        src = REPO / name
        if name and src.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)
    settings = (
        f'\n[tool.mutmut]\nsource_paths = ["data_prep", "evals", "recipes"]\n'
        f"only_mutate = [{json.dumps(target.module)}]\n"
        f'also_copy = ["conf/", "containers/", "slurm/", "bench/", "README.md", "ARCHITECTURE.md"]\n'
        f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}\n"
        f"do_not_mutate_patterns = {json.dumps(list(MESSAGE_LINES))}\n"
        f'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
    )
    (work / "pyproject.toml").write_text((work / "pyproject.toml").read_text() + settings)
    return work


def _mutmut(work: Path, *args: str, timeout: float = 3600) -> str:
    # One intra-op thread: torch's OpenMP pool does not survive mutmut's fork (the children hang, read as timeouts).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=work, capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0 and args[0] == "run":
        raise RuntimeError(f"mutmut run failed in {work}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_target(target: Target, root: Path, report_only: bool = False) -> ModuleResult:
    result = ModuleResult(
        target.module,
        list(target.functions),
        list(target.tests),
        commit=_git("log", "-1", "--format=%H", "--", target.module).strip(),
    )
    if target.skip_reason:
        result.skipped = target.skip_reason
        return result
    if report_only:
        work = root / target.module.replace("/", "_").removesuffix(".py")
    else:
        work = _scratch_copy(target, root)
        start = time.monotonic()
        _mutmut(work, "run", "--max-children", "1", *target.patterns)
        (work / SECONDS_FILE).write_text(f"{time.monotonic() - start:.1f}")
    result.seconds = float((work / SECONDS_FILE).read_text())
    for line in _mutmut(work, "results", "--all", "true").splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if not match:
            continue
        name, status = match.groups()
        if not any(fnmatch.fnmatch(name, p) for p in target.patterns):
            continue
        result.mutants += 1
        if status == "killed":
            result.killed += 1
        elif status == "timeout":
            result.timeout += 1
        elif status == "survived":
            diff = _mutmut(work, "show", name).split("\n", 1)[1].strip()
            result.survived.append(
                {"mutant": name, "diff": diff, "equivalent": EQUIVALENT.get(name, ""), "note": NOTES.get(name, "")}
            )
        else:
            result.other[status] = result.other.get(status, 0) + 1
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="modules to run (default: all); others keep their JSON entry")
    parser.add_argument("--scratch", default="/tmp/sealion-mutation", help="where the per-module copies go")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="re-read the results of the last run in --scratch (e.g. after editing EQUIVALENT)",
    )
    args = parser.parse_args(argv)
    previous = {m["module"]: m for m in json.loads(RESULT.read_text())["modules"]} if RESULT.exists() else {}
    modules = []
    for target in TARGETS:
        if args.only and target.module not in args.only:
            if target.module in previous:
                modules.append(previous[target.module])
            continue
        result = run_target(target, Path(args.scratch), args.report_only)
        entry = asdict(result) | {
            "score": round(result.score, 3),
            "score_without_equivalents": round(result.score_without_equivalents, 3),
        }
        modules.append(entry)
        print(
            f"{target.module}: {result.killed}/{result.mutants} killed, {len(result.survived)} survived, "
            f"{result.other or ''} {result.seconds}s {result.skipped}",
            flush=True,
        )
        _write(modules + [previous[t.module] for t in TARGETS[TARGETS.index(target) + 1 :] if t.module in previous])
    _write(modules)
    return 0


def _write(modules: list[dict]) -> None:
    RESULT.write_text(json.dumps({"tool": "mutmut 3.8.1", "modules": modules}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
