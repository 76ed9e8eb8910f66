"""The transfer variants that earned their place, one small module each:

* :mod:`.free_init`: how the free modules start after a freeze (``PathNetConfig.free_init``:
  fresh weights, or copies of the frozen modules of their layer);
* :mod:`.seeding`: how a task's population starts (random paths, the first
  ``seed_copy_fraction`` of them set to the source's path through its trainable copies);
* :mod:`.finish`: how the evolved winner is finished (early stopping on the validation part,
  at ``finish_lr``, or ``transfer_finish_lr`` while frozen modules exist);
* :mod:`.heads`: how a task's head starts (fresh, or from a learnt task's class rows).
"""
