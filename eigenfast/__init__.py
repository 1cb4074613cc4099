"""eigenfast: verified synthetic data and verifiable-reward RL for tool-using agents.

Importing the package is cheap on purpose: it never imports torch, triton, vLLM or Ray and never touches
CUDA. Heavy modules load only when their feature is used.
"""

__version__ = "0.1.0"
