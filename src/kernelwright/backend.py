"""The one name for where candidates run: C++ on the CPU, or CUDA."""

from typing import Literal

Backend = Literal["cuda", "cpu"]
