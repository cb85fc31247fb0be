"""Serial device simulators: wire-byte encoders written from the protocol specifications.

The encoders here never call the parsers in ``drivers/``: they are an independent reading
of the same specification, so a test that encodes here and decodes there checks both.
"""
