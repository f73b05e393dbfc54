"""Next-event language models: ``task.py`` (LanguageModelTask), ``batches.py`` (windows)."""
