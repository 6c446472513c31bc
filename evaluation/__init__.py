"""AlpacaEval 2 and MT-bench evaluation of checkpoints, and baseline comparison tables."""
