"""Continual learning as a study: a chain of corpora learnt onto one model, by PathNet
and by the ways it is compared with (:mod:`.ways`), reported as accuracy matrices."""
