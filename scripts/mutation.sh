#!/usr/bin/env bash
# Mutation testing of the calculator, the weight conventions, the config reader and the cost model.
#
# Not part of CI (it takes tens of minutes): run it by hand, read the score, and either test or
# explain each surviving mutant (docs/testing.md keeps the last score and the explanations).
#
#   scripts/mutation.sh              # mutate, test, print the score and the survivors
#   MUTATION_DIR=/tmp/m scripts/mutation.sh
#   JOBS=2 scripts/mutation.sh       # parallel test processes (default 1)
#   MODULES=rnncalc/core/calc.py scripts/mutation.sh   # one module only
#   BUDGET=1200 scripts/mutation.sh  # stop testing after 20 minutes; the score covers what ran
#
# mutmut 3 rewrites the package into a copy, so the run happens in a scratch copy of the
# repository with its own setup.cfg: the project's configuration and work tree stay untouched.
# Needs `pip install mutmut` (tested with 3.8.1) in the environment that runs the tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${MUTATION_DIR:-${TMPDIR:-/tmp}/rnncalc-mutation}"
jobs="${JOBS:-1}"
budget="${BUDGET:-0}"  # seconds; 0 = no limit

# The modules under mutation, and the fast analytic tests that are meant to pin them down
# (no Keras: each mutant reruns the tests that reach the mutated function).
read -r -a modules <<< "${MODULES:-rnncalc/core/calc.py rnncalc/frameworks/base.py rnncalc/io/config.py rnncalc/cost/model.py}"
tests=(
    tests/test_calculator.py tests/test_totals.py tests/test_totals_merge.py
    tests/test_table_subtotals.py tests/test_course_numbers.py tests/test_report.py
    tests/test_difference.py tests/test_model_against_torch.py
    tests/test_config.py tests/test_error_positions.py tests/test_config_messages.py
    tests/test_cost.py tests/test_cost_formulas.py tests/test_solve_units.py tests/test_solve_oracle.py
)

rm -rf "$work"
mkdir -p "$work"
cp -r "$root/rnncalc" "$root/tests" "$root/examples" "$root/pyproject.toml" "$work/"
cd "$work"
find . -name __pycache__ -prune -exec rm -rf {} +

{
    echo "[mutmut]"
    echo "source_paths = rnncalc"
    echo "also_copy = examples"
    # A mutant that loops is stopped after 5× its tests' normal time, not 15×.
    echo "timeout_multiplier = 5.0"
    printf 'only_mutate =\n'
    printf '    %s\n' "${modules[@]}"
    printf 'pytest_add_cli_args_test_selection =\n'
    for test in "${tests[@]}"; do
        [ -f "$test" ] && printf '    %s\n' "$test"
    done
    # Tests that build real Keras models are too slow to rerun per mutant.
    printf 'pytest_add_cli_args =\n    -q\n    -p\n    no:cacheprovider\n    -k\n    not real_keras\n'
} > setup.cfg

export TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 PYTHONPATH="$work"
timeout --signal=INT --kill-after=60 "$budget" mutmut run --max-children "$jobs" || true
mutmut results > survivors.txt || true
python - <<'PY'
"""Tally mutmut's verdicts (its own exit-code table) and print the score."""
import json
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

verdicts: Counter[str] = Counter()
for meta in Path("mutants").rglob("*.meta"):
    for code in json.loads(meta.read_text()).get("exit_code_by_key", {}).values():
        verdicts[status_by_exit_code[code]] += 1
killed = verdicts["killed"] + verdicts["timeout"] + verdicts["caught by type check"]
judged = killed + verdicts["survived"] + verdicts["suspicious"]
print(dict(verdicts))
if judged:
    print(f"score: {killed}/{judged} mutants killed ({100 * killed / judged:.1f}%)")
PY
echo "survivors: $work/survivors.txt (show one with: cd $work && mutmut show NAME)"
