"""Schemathesis hooks for Premia's CI run.

Real clients send a fresh Idempotency-Key per request; a generator reusing short keys such as
"0" for different requests would (correctly) get 422. A valid generated key is kept as it was
and made unique; an invalid one is left alone so that negative tests still see a 400.
"""
import re
import uuid

import schemathesis

VALID = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if key is not None and VALID.match(key):
        headers["Idempotency-Key"] = f"{key[:218]}-{uuid.uuid4()}"
