"""OpenAI and Anthropic models against the fake server: requests sent, replies read, retries, errors."""

from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
from fake_llm import Drop, Failure, Malformed, Reply, StreamError

from kernelwright.llm import (
    AnthropicModel, LLMError, OpenAIModel, PriceTable, ReplyError, RetryPolicy, Sampling, open_model,
    parse_retry_after,
)
from kernelwright.llm.prices import Price

PRICES = PriceTable(models={"gpt-test": Price(input=2.0, output=8.0), "claude-test": Price(input=3.0, output=15.0)})
MODELS = {"openai": "gpt-test-2025", "anthropic": "claude-test-1"}
CASES = [("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)]


def base_url(server, provider):
    return server.openai_base_url if provider == "openai" else server.anthropic_base_url


@pytest.fixture
def make(fake_llm, sleeps, fast_retry):
    def make(provider, stream=None, **kwargs):
        options = {"base_url": base_url(fake_llm, provider), "prices": PRICES, "retry": fast_retry,
                   "sleep": sleeps, "stream": stream, **kwargs}
        return open_model(f"{provider}/{MODELS[provider]}", **options)
    return make


@pytest.mark.parametrize("provider,stream", CASES)
def test_reply_tokens_and_cost(make, fake_llm, provider, stream, messages, context):
    fake_llm.push(Reply("__global__ void k() {}", input_tokens=1200, output_tokens=345))
    completion = make(provider, stream).complete(messages, context)
    assert completion.text == "__global__ void k() {}"
    assert (completion.input_tokens, completion.output_tokens) == (1200, 345)
    price = PRICES.models["gpt-test" if provider == "openai" else "claude-test"]
    assert completion.cost_usd == pytest.approx((1200 * price.input + 345 * price.output) / 1e6)
    assert completion.model == MODELS[provider]
    assert completion.retries == 0
    assert completion.finish_reason == ("stop" if provider == "openai" else "end_turn")
    assert fake_llm.completions[0].stream is stream


@pytest.mark.parametrize("provider,stream", CASES)
def test_empty_reply_is_a_completion(make, fake_llm, provider, stream, messages, context):
    fake_llm.push(Reply("", input_tokens=50, output_tokens=0))
    completion = make(provider, stream).complete(messages, context)
    assert completion.text == ""
    assert (completion.input_tokens, completion.output_tokens) == (50, 0)


def test_reported_model_names_the_completion_and_its_price(make, fake_llm, messages, context):
    fake_llm.push(Reply("x", model="gpt-test-2025-06-01", input_tokens=1_000_000, output_tokens=0))
    completion = make("openai").complete(messages, context)
    assert completion.model == "gpt-test-2025-06-01"
    assert completion.cost_usd == pytest.approx(2.0)


def test_unpriced_model_has_no_cost(fake_llm, messages, context):
    fake_llm.push(Reply("x", input_tokens=10, output_tokens=10))
    model = open_model("openai/meta-llama/Llama-3-70B", base_url=fake_llm.openai_base_url, prices=PRICES)
    completion = model.complete(messages, context)
    assert completion.cost_usd is None
    assert fake_llm.completions[0].model == "meta-llama/Llama-3-70B"


def test_openai_request_body(make, fake_llm, messages, context):
    fake_llm.push("a", "b")
    make("openai").complete(messages, context)
    sent = fake_llm.completions[0].body
    assert sent["messages"] == [{"role": "system", "content": "You write CUDA kernels."},
                                {"role": "user", "content": "Write a fast matmul."}]
    assert not {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stream_options"} & sent.keys()
    make("openai", True, sampling=Sampling(temperature=0.2, top_p=0.9, max_tokens=999)).complete(messages, context)
    sent = fake_llm.completions[1].body
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.9, 999)
    assert sent["stream_options"] == {"include_usage": True}


def test_openai_without_base_url_sends_max_completion_tokens(fake_llm, monkeypatch, messages, context):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = OpenAIModel("gpt-test", sampling=Sampling(max_tokens=77), prices=PRICES)
    model._client = model._client.with_options(base_url=fake_llm.openai_base_url)
    fake_llm.push("ok")
    model.complete(messages, context)
    sent = fake_llm.completions[0]
    assert sent.body["max_completion_tokens"] == 77 and "max_tokens" not in sent.body
    assert sent.api_key == "sk-test"


def test_anthropic_request_body(make, fake_llm, messages, context):
    messages = [messages[0], messages[1], messages[0].model_copy(update={"content": "Only code."})]
    fake_llm.push("a", "b")
    make("anthropic").complete(messages, context)
    sent = fake_llm.completions[0].body
    assert sent["system"] == "You write CUDA kernels.\n\nOnly code."
    assert sent["messages"] == [{"role": "user", "content": "Write a fast matmul."}]
    assert sent["max_tokens"] == 16384 and sent["stream"] is True
    assert not {"temperature", "top_p"} & sent.keys()
    make("anthropic", False, sampling=Sampling(max_tokens=4000)).complete(messages, context)
    sent = fake_llm.completions[1].body
    assert sent["max_tokens"] == 4000 and "stream" not in sent


def test_anthropic_refuses_temperature(fake_llm):
    with pytest.raises(LLMError, match=r"takes no temperature or top_p"):
        open_model("anthropic/claude-test", base_url=fake_llm.anthropic_base_url,
                   sampling=Sampling(temperature=0.5, top_p=0.5))


def test_stream_defaults():
    assert OpenAIModel.default_stream is False
    assert AnthropicModel.default_stream is True


# retries


@pytest.mark.parametrize("provider,stream", CASES)
def test_rate_limit_waits_as_told(make, fake_llm, sleeps, provider, stream, messages, context):
    fake_llm.push(Failure.rate_limited(retry_after="3"), Failure.rate_limited(retry_after_ms="250"), "done")
    completion = make(provider, stream).complete(messages, context)
    assert completion.text == "done"
    assert completion.retries == 2
    assert sleeps == [3.0, 0.25]
    assert len(fake_llm.completions) == 3


def test_retry_after_is_capped(make, fake_llm, sleeps, messages, context):
    fake_llm.push(Failure.rate_limited(retry_after="3600"), "done")
    make("openai", retry=RetryPolicy(attempts=2, base_s=0.01, max_wait_s=7.5)).complete(messages, context)
    assert sleeps == [7.5]


def test_retry_after_forms():
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2030, 1, 1, 12, 0, 42, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now.timestamp()) == pytest.approx(42.0)
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "20", "retry-after": "9"}) == 0.02
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("provider,stream", CASES)
@pytest.mark.parametrize("failure", [Failure(500), Failure(503), Failure(529), Failure(408), Drop(),
                                     Drop(midway=True), Malformed(), Malformed(content_type="text/html"),
                                     Malformed('{"unexpected": true}'), StreamError()],
                         ids=["500", "503", "529", "408", "drop", "drop-midway", "not-json", "html", "wrong-shape",
                              "stream-error"])
def test_transient_failure_then_success(make, fake_llm, sleeps, provider, stream, failure, messages, context):
    fake_llm.push(failure, Reply("recovered", input_tokens=7, output_tokens=1))
    completion = make(provider, stream).complete(messages, context)
    assert (completion.text, completion.retries) == ("recovered", 1)
    assert (completion.input_tokens, completion.output_tokens) == (7, 1)
    assert len(sleeps) == 1 and 0.005 <= sleeps[0] <= 0.01  # backoff with jitter: half to all of base_s


def test_backoff_doubles(make, fake_llm, sleeps, messages, context):
    fake_llm.push(Failure(500), Failure(500), Failure(500), "ok")
    assert make("openai").complete(messages, context).retries == 3
    for wait, ceiling in zip(sleeps, [0.01, 0.02, 0.04], strict=True):
        assert ceiling / 2 <= wait <= ceiling


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_timeout_is_retried(make, fake_llm, provider, messages, context):
    fake_llm.push(Reply("late", delay_s=1.0), "on time")
    completion = make(provider, timeout_s=0.25).complete(messages, context)
    assert (completion.text, completion.retries) == ("on time", 1)


@pytest.mark.parametrize("provider,stream", CASES)
def test_retries_exhausted_is_a_reply_error(make, fake_llm, provider, stream, messages, context):
    fake_llm.push(*[Failure(503, message="busy")] * 4, "never read")
    with pytest.raises(ReplyError) as caught:
        make(provider, stream).complete(messages, context)
    assert caught.value.retries == 3
    assert str(caught.value) == f"{provider}/{MODELS[provider]}: no usable reply after 4 attempts; last: HTTP 503: busy"
    assert len(fake_llm.completions) == 4 and fake_llm.pending == 1


# errors that stop the run


@pytest.mark.parametrize("provider,stream", CASES)
def test_rejected_key_is_fatal_without_retry(make, fake_llm, sleeps, provider, stream, messages, context):
    fake_llm.api_key = "the-right-key"
    with pytest.raises(LLMError) as caught:
        make(provider, stream).complete(messages, context)
    message = str(caught.value)
    var = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    assert message == (f"{provider}/{MODELS[provider]}: the provider rejected the API key "
                       f"(HTTP 401: Incorrect API key provided); set {var}")
    assert len(fake_llm.completions) == 1 and sleeps == []


def test_keys_from_the_environment_are_sent(make, fake_llm, monkeypatch, messages, context):
    monkeypatch.setenv("OPENAI_API_KEY", "k-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k-anthropic")
    fake_llm.push("a", "b")
    make("openai").complete(messages, context)
    make("anthropic").complete(messages, context)
    assert [r.api_key for r in fake_llm.completions] == ["k-openai", "k-anthropic"]


def test_local_server_needs_no_key(fake_llm, monkeypatch, messages, context):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_base_url)
    fake_llm.push("from vllm")
    assert open_model("openai/Qwen/Qwen2.5-Coder-32B").complete(messages, context).text == "from vllm"
    assert fake_llm.completions[0].api_key == "unused"


@pytest.mark.parametrize("provider,var", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_missing_key(provider, var):
    with pytest.raises(LLMError) as caught:
        open_model(f"{provider}/some-model")
    assert str(caught.value).startswith(f"{provider}/some-model needs an API key: export {var}=...")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("provider,stream", CASES)
def test_unknown_model(make, fake_llm, sleeps, provider, stream, messages, context):
    fake_llm.known_models = {"other-model"}
    with pytest.raises(LLMError, match=rf"^{provider}/{MODELS[provider]}: unknown model '{MODELS[provider]}' "
                                       r"\(HTTP 404: .*\)$"):
        make(provider, stream).complete(messages, context)
    assert len(fake_llm.completions) == 1 and sleeps == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_other_client_error_carries_the_provider_message(make, fake_llm, provider, messages, context):
    fake_llm.push(Failure(400, message="prompt is too long:\n  210000 tokens > 200000 maximum"))
    with pytest.raises(LLMError) as caught:
        make(provider).complete(messages, context)
    assert str(caught.value) == (f"{provider}/{MODELS[provider]}: request rejected "
                                 "(HTTP 400: prompt is too long: 210000 tokens > 200000 maximum)")
    assert len(fake_llm.completions) == 1


def test_fatal_error_after_retries_counts_them(make, fake_llm, messages, context):
    fake_llm.push(Failure(502), Failure.unauthorized())
    with pytest.raises(LLMError) as caught:
        make("openai").complete(messages, context)
    assert caught.value.retries == 1


# preflight


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_preflight_passes_for_a_known_model(make, fake_llm, provider):
    fake_llm.known_models = {MODELS[provider]}
    make(provider).preflight()
    assert [r.path for r in fake_llm.requests] == [f"/v1/models/{MODELS[provider]}"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_preflight_rejects_an_unknown_model(make, fake_llm, provider):
    fake_llm.known_models = {"another"}
    with pytest.raises(LLMError, match=rf"unknown model '{MODELS[provider]}'"):
        make(provider).preflight()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_preflight_rejects_a_bad_key(make, fake_llm, provider):
    fake_llm.api_key = "right"
    with pytest.raises(LLMError, match="rejected the API key"):
        make(provider).preflight()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("status", [500, 503, 405])
def test_preflight_ignores_other_failures(make, fake_llm, provider, status):
    fake_llm.models_failure = Failure(status)
    make(provider).preflight()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_preflight_ignores_a_server_without_the_endpoint(make, fake_llm, provider):
    fake_llm.serve_models = False
    make(provider).preflight()


def test_preflight_ignores_an_unreachable_server(fake_llm):
    url = fake_llm.openai_base_url
    fake_llm.close()
    open_model("openai/x", base_url=url, timeout_s=2).preflight()


def test_preflight_on_a_compatible_server_checks_its_model_list(fake_llm):
    fake_llm.known_models = {"llama-3-70b", "qwen-coder"}
    fake_llm.serve_model_lookup = False
    with pytest.raises(LLMError, match=r"unknown model 'mistral' \(the server offers llama-3-70b, qwen-coder\)$"):
        open_model("openai/mistral", base_url=fake_llm.openai_base_url).preflight()
    open_model("openai/qwen-coder", base_url=fake_llm.openai_base_url).preflight()
    assert [r.path for r in fake_llm.requests] == ["/v1/models/mistral", "/v1/models", "/v1/models/qwen-coder",
                                                   "/v1/models"]


@pytest.mark.parametrize("provider,stream", CASES)
def test_responder_answers_from_the_request(make, fake_llm, provider, stream, messages, context):
    fake_llm.responder = lambda request: f"{request.api}: {request.system} | {request.messages[-1]['content']}"
    text = make(provider, stream).complete(messages, context).text
    assert text == f"{provider}: You write CUDA kernels. | Write a fast matmul."
    assert fake_llm.completions[0].prompt == "You write CUDA kernels.\n\nWrite a fast matmul."


def test_an_unscripted_request_fails_loudly(make, messages, context):
    with pytest.raises(LLMError, match="fake LLM server: no scripted reply left"):
        make("openai").complete(messages, context)


@pytest.mark.parametrize("provider,stream", CASES)
def test_reasoning_is_kept_apart_from_the_reply(make, fake_llm, provider, stream, messages, context):
    fake_llm.push(Reply("__global__ void k() {}", reasoning="tile by 32, then reduce per warp"))
    completion = make(provider, stream).complete(messages, context)
    assert completion.text == "__global__ void k() {}"
    assert completion.reasoning == "tile by 32, then reduce per warp"
    fake_llm.push(Reply("plain"))
    assert make(provider, stream).complete(messages, context).reasoning is None
