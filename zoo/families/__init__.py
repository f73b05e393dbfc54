"""Families: a network bound to a codec and an objective, written against one task contract.

    task.py        the contract (``Task``, ``Metric``, ``Column``): what the engine calls
    optim.py       the optax chain and schedules every family trains with
    baselines.py   n-gram and per-key baselines for the report
    lm/            next-event models (LSTM event RNNs, Music Transformer): task, batches
    frames/        piano-roll frame models (RNN, RNN-NADE, Transformer): config, task, batches
    vae/           MusicVAE: config (KL, free bits, scheduled sampling), task, windows
    gan/           MuseGAN: config (WGAN-GP, critic steps), task, phrases

A new family is one folder here plus a line in ``zoo/registry/__init__.py``.
"""
