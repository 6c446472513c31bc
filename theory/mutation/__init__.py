"""Mutation testing of the math: `python -m theory mutants` (`make mutants`).

`catalogue.MUTANTS` lists plausible one-line bugs in `selection/`, `theory/` and
`training/losses/`; `runner.run_mutants` applies each to a temporary copy of the project and
records whether the fast test suite and `make bounds` (`python -m theory check`) catch it.
"""
