"""Serial device simulators and the spec-written wire encoders behind them.

The encoders (``*_encoder.py``, and :mod:`hil.intellivue_sim.encoder`) and the simulators
(:mod:`.nonin_sim`, :mod:`.masimo_stream`, :mod:`.datex_sim`, :mod:`.intellivue_monitor`, on
the pty cable of :mod:`.link`, with :mod:`.scenario` and :mod:`.faults`) never call the
parsers in ``drivers/``: they are an independent reading of the same specifications, so a
test that encodes here and decodes there checks both.
"""
