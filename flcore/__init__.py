"""fl5g shared kernel: models, data, wire format, codecs, timeline maths, ProblemDetails."""
