"""`python -m planner.local_llm`: a small local LLM teacher in one command (the server lives in
planner/servers/llama.py; this module is its command-line entry point)."""
import sys

from planner.servers.llama import main

if __name__ == "__main__":
    sys.exit(main())
