"""Deploy Studio: the Qt application over the engine (windows, panels, workers)."""
