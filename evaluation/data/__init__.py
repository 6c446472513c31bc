"""Benchmark data for the evaluation harness: AlpacaEval 2 (`alpaca`) and MT-bench (`mtbench`).

Records keep the official formats so files move both ways between this harness and alpaca_eval /
FastChat; bad input raises `BenchmarkDataError` naming file, row or line, record and field.
"""
