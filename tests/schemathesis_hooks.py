"""Loaded by the Schemathesis command in tests/test_schemathesis.py (`hooks` in its config).

Hypothesis describes each filter of a strategy by parsing the source of its lambda. Deep in
Schemathesis' coverage phase, under the raised recursion limit Hypothesis runs with, CPython
3.11's `ast.parse` can fail with `SystemError: AST constructor recursion depth mismatch` — a
fault of the interpreter, not a finding about our API, which then aborts the operation's test.
The description is only a label: when the parse fails, the lambda is described as unknown,
which is what Hypothesis itself does when it cannot find a lambda's source."""

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description
