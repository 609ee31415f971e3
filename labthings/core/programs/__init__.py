"""External programs as tasks: `run_program` runs one inside an action, in a working
folder of the invocation's own, with its output in the task log, its progress from a
status file or its output, its result from a file, and its whole process tree stopped
on cancel.

`tree.py` starts and stops a process tree (POSIX and Windows), `lines.py` reads its
output, `progress.py` reads its progress, `folders.py` keeps the working folders, and
`orphans.py` stops, at the next start, programs that a killed server left running.
"""

from labthings.core.programs.run import program_folder, run_program

__all__ = ["program_folder", "run_program"]
