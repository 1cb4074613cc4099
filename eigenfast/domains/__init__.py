"""Environment runtime: toolkits over copy-on-write DB stores, the tau² loader and its domains."""
