"""A mock of the operator's NEF: 3GPP northbound APIs over a radio model, plus an emulator API."""
