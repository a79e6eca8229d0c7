"""Test support shared by the tests and the benchmarks (test doubles such as the fake Twilio server).

It lives outside ``src/`` so the wheel never ships it; import it as ``tests.support.…`` from the repository root.
"""
