"""The engine: it trains any task through the contract of ``zoo/families/task.py`` and knows
nothing else about families.

    state.py        ``TrainState``: step, params, optimizer state
    steps.py        pure steps: the gradient update, the non-finite guard, the eval step
    mesh.py         the device ``Mesh`` (data parallel), global batches, multi-host init
    checkpoint.py   orbax checkpoints of state, rng and data position
    loop.py         ``Trainer`` (compiled steps, evaluation, the report) and ``fit``
"""
