"""Loading KernelBench-format tasks: discovery, static reading, specs on the meta device, variants."""

from .instantiate import Instance, instantiate
from .loader import TaskNotFound, discover, find_task, find_task_path, level_of_dir, load_task, load_tasks
from .models import Declarations, InputSpec, LoadResult, Specs, Task, TaskError, Variant
from .source import TaskSourceError
from .variants import VariantReport, cpu_scale_variants, specs_at, task_variants

__all__ = [
    "Declarations", "InputSpec", "Instance", "LoadResult", "Specs", "Task", "TaskError", "TaskNotFound",
    "TaskSourceError", "Variant", "VariantReport", "discover", "find_task", "find_task_path", "instantiate",
    "level_of_dir", "load_task", "load_tasks", "cpu_scale_variants", "specs_at", "task_variants",
]
