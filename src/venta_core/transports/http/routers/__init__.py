"""One router per resource; the seed system's paths live in ``seed`` as aliases."""
