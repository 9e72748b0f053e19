"""Model specs and the price table."""

import pytest

from kernelwright.llm import LLMError, ModelSpec, load_prices, open_model, parse_spec
from kernelwright.llm.prices import shipped_prices


@pytest.mark.parametrize("spec,provider,name", [
    ("openai/gpt-4o", "openai", "gpt-4o"),
    ("openai/meta-llama/Llama-3-70B", "openai", "meta-llama/Llama-3-70B"),
    ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ("scripted/demos/matmul.json", "scripted", "demos/matmul.json"),
    (" replay/0192abc ", "replay", "0192abc"),
])
def test_parse_spec(spec, provider, name):
    parsed = parse_spec(spec)
    assert parsed == ModelSpec(provider=provider, name=name)
    assert str(parsed) == f"{provider}/{name}"


@pytest.mark.parametrize("spec", ["gpt-4o", "openai/", "openai/  ", "google/gemini", "/gpt-4o", "", "OpenAI/gpt-4o"])
def test_bad_spec_lists_the_valid_forms(spec):
    with pytest.raises(LLMError) as caught:
        open_model(spec)
    assert str(caught.value) == (f"model spec {spec!r} is not valid; use openai/MODEL, anthropic/MODEL, "
                                 "scripted/PATH or replay/RUN_ID")


def test_shipped_prices_match_exact_then_longest_prefix():
    table = shipped_prices()
    assert table.lookup("gpt-4o") == table.models["gpt-4o"]
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.models["gpt-4o-mini"]
    assert table.lookup("gpt-4o-2024-08-06") == table.models["gpt-4o"]
    assert table.lookup("claude-opus-4-1-20250805") == table.models["claude-opus-4-1"]
    assert table.lookup("llama-3") is None
    assert table.cost("llama-3", 10, 10) is None
    price = table.models["gpt-4o"]
    assert table.cost("gpt-4o", 2_000_000, 500_000) == pytest.approx(2 * price.input + 0.5 * price.output)


def test_user_prices_replace_and_extend(tmp_path, monkeypatch):
    user = tmp_path / "prices.toml"
    user.write_text('[models]\n"gpt-4o" = { input = 1.0, output = 2.0 }\n'
                    '"my-local" = { input = 0.0, output = 0.5 }\n')
    table = load_prices(user)
    assert (table.models["gpt-4o"].input, table.models["gpt-4o"].output) == (1.0, 2.0)
    assert table.cost("my-local-7b", 1_000_000, 1_000_000) == pytest.approx(0.5)
    assert table.models["claude-sonnet-4-5"] == shipped_prices().models["claude-sonnet-4-5"]
    monkeypatch.setenv("KERNELWRIGHT_PRICES", str(user))
    assert load_prices() == table
    monkeypatch.delenv("KERNELWRIGHT_PRICES")
    assert load_prices() == shipped_prices()


@pytest.mark.parametrize("text,error", [
    ('[models]\n"x" = { input = 1.0 }\n', r"models\.x\.output: Field required"),
    ('[models]\n"x" = { input = -1.0, output = 1.0 }\n', r"models\.x\.input"),
    ("[models\n", "is not valid TOML"),
])
def test_bad_price_file_is_one_line(tmp_path, text, error):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(LLMError, match=error) as caught:
        load_prices(path)
    assert "\n" not in str(caught.value)


def test_missing_price_file(tmp_path):
    with pytest.raises(LLMError, match="cannot read price table"):
        load_prices(tmp_path / "nope.toml")
