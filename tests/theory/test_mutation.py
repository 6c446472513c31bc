"""Tests of the mutation-testing tool (theory/mutation): the catalogue matches the code, mutants
apply and restore exactly, outcomes are tabulated. The full run is `make mutants`."""

from pathlib import Path

import pytest

from theory.mutation.catalogue import AREAS, MUTANTS, Mutant, get_mutant
from theory.mutation.runner import ROOT, MutantResult, Outcome, apply, table


def test_catalogue_is_large_and_covers_every_area():
    assert len(MUTANTS) >= 15
    assert {m.area for m in MUTANTS} == set(AREAS)
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_snippet_occurs_exactly_once(mutant):
    """A drifted catalogue (snippet renamed or duplicated) must fail here, not test nothing."""
    assert (ROOT / mutant.path).read_text().count(mutant.old) == 1


def test_apply_mutates_and_returns_the_original(tmp_path: Path):
    (tmp_path / "m.py").write_text("x = a - b\ny = 1\n")
    mutant = Mutant("sign", "m.py", "a - b", "b - a", "theory", "sign")
    original = apply(mutant, tmp_path)
    assert original == "x = a - b\ny = 1\n"
    assert (tmp_path / "m.py").read_text() == "x = b - a\ny = 1\n"
    with pytest.raises(ValueError, match="occurs 0 times"):
        apply(mutant, tmp_path)  # the snippet is gone now


def test_a_mutant_survives_unless_every_required_suite_catches_it():
    theory_mutant = next(m for m in MUTANTS if m.area == "theory")
    losses_mutant = Mutant("l", "training/x.py", "a", "b", "losses", "bug")
    caught, missed, skipped = Outcome(True, "t", 1.0), Outcome(False, "", 1.0), Outcome(None, "", 0)
    assert not MutantResult(theory_mutant, caught, caught).survived
    assert MutantResult(theory_mutant, caught, missed).survived
    assert MutantResult(theory_mutant, missed, caught).survived
    assert not MutantResult(losses_mutant, caught, skipped).survived
    text = table([MutantResult(theory_mutant, caught, missed)])
    assert "**survived**" in text and "caught (t)" in text


def test_unknown_mutant_names_the_valid_ones():
    with pytest.raises(ValueError, match="optselect_squared_distances"):
        get_mutant("no_such_mutant")
