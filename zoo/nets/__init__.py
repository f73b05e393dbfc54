"""Pure flax networks (jax, flax and numpy only). Each owns its ``init_params(rng)``; sizes and
special ids come in through its frozen ``Config``; nothing here reads data or knows a codec.

    lstm_lm.py                LSTM layer (hand-written backward pass) and the event LSTM LM
    transformer_lm.py         decoder blocks with relative/rotary/absolute positions, KV cache
    pianoroll.py              frame heads (Bernoulli, NADE), ``FrameModel``, the piano-roll LSTM
    pianoroll_transformer.py  the Transformer body over frames with a frame head
    music_vae.py              MusicVAE: bidirectional LSTM encoder, flat/hierarchical decoders
    musegan.py                MuseGAN: hybrid/dense generators and critics, latents
    decoding.py               jitted decoding loops: ``sample`` (ids), ``sample_frames``, logits filter
"""
