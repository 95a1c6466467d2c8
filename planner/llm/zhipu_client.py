"""ChatGLM through Zhipu's chat API (open.bigmodel.cn, API v4).

The v4 endpoint speaks the OpenAI chat-completion format (so the `openai` SDK is the client) with a few differences
handled here: no `n` (every answer is its own request), no `seed` and no grammar, temperature limited to [0, 1]
(0 means greedy: `do_sample: false`). The API key comes from an environment variable (default ZHIPUAI_API_KEY).
"""
from planner.llm.openai_client import ChatClient

ZHIPU_URL = "https://open.bigmodel.cn/api/paas/v4"
ZHIPU_MODEL = "glm-4-flash"
ZHIPU_KEY_ENV = "ZHIPUAI_API_KEY"


class ZhipuClient(ChatClient):
    supports_n = False

    def __init__(self, url=None, model=None, api_key=None, **kwargs):
        if not model or model == "default":
            model = ZHIPU_MODEL
        super().__init__(url or ZHIPU_URL, model, api_key=api_key, **kwargs)

    def build_body(self, messages, n, temperature, seed, grammar, max_tokens, extra=None):
        args, body = {"model": self.model, "messages": messages}, dict(extra or {})
        if temperature is not None:
            if temperature <= 0:
                body["do_sample"] = False
            else:
                args["temperature"] = min(float(temperature), 1.0)
        if max_tokens:
            args["max_tokens"] = int(max_tokens)
        return args, body
