"""The research notebooks (shipped as ``amxmodel.notebooks``; run them with papermill or ``amxmodel main``)."""
