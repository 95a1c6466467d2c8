"""The official entry point `python -m utils.chatglm_api`: a shim over planner.servers.chatglm_proxy (the code lives there).

    python -m utils.chatglm_api --host 127.0.0.1 --port 8000
"""
import sys

from planner.servers.chatglm_proxy import main

if __name__ == "__main__":
    sys.exit(main())
