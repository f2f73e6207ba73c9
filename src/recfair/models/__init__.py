"""Recommender models and what they share.

- :mod:`recfair.models.base`: the :class:`~recfair.models.base.Recommender` interface
  (``fit`` / ``score`` / ``recommend`` / ``save`` / ``load``) and training penalties;
- :mod:`recfair.models.config` and :mod:`recfair.models.registry`: typed
  hyper-parameters, runtime options and model lookup by name;
- :mod:`recfair.models.training` and :mod:`recfair.models.torch_kit`: the shared
  torch training loop and its helpers;
- :mod:`recfair.models.classic`, :mod:`recfair.models.lm`,
  :mod:`recfair.models.generative`: collaborative-filtering baselines, text-model
  recommenders and generative recommenders.
"""
