#!/usr/bin/env python3
"""Generates config/prices.yaml, tracegate's embedded model price table.

Source: the `genai-prices` package on PyPI (pydantic/genai-prices), a maintained public
dataset of LLM prices. Its data lives in `genai_prices/data.py`. The version is pinned below;
to update, change PINNED_VERSION, run `python3 scripts/gen_prices.py`, and review the diff.

Only the data module is loaded: a stub package stands in for `genai_prices/__init__.py` so the
package's runtime dependencies (an HTTP client for live updates) are never imported or
installed. It needs `pydantic` (used by the dataset's types) and `pip`.

What is kept, for the providers in PROVIDERS:
- every model with a text input or output price;
- prices per million tokens: input, output, cache read, cache write, reasoning output, each
  either a number or tiered (`base` plus `tiers` of `{start, price}`: above `start` input
  tokens the whole request is priced at `price`);
- effective dates (`since`) from start-date constraints.
- each model's match rule in the dataset's own shape (`equals`, `starts_with`, `ends_with`,
  `contains`, `regex`, `or`, `and`); a Python negative lookahead `^(?!X)`, which Rust's regex
  lacks, becomes `{not: {regex: "^X"}}`.
What is dropped: time-of-day discounts, price variants (batch, flex), and non-token units
(searches, audio hours, pages).
"""

from __future__ import annotations

import argparse
import decimal
import pathlib
import re
import subprocess
import sys
import tempfile
import types
import zipfile

PINNED_VERSION = "0.2.3"
PACKAGE = "genai-prices"

# genai-prices provider id -> OTel GenAI `gen_ai.provider.name` value.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "aws": "aws.bedrock",
    "azure": "azure.ai.openai",
    "x-ai": "x_ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
}

# genai-prices field -> our field.
FIELDS = {
    "input_mtok": "input_mtok",
    "output_mtok": "output_mtok",
    "cache_read_mtok": "cache_read_mtok",
    "cache_write_mtok": "cache_write_mtok",
    "output_reasoning_mtok": "reasoning_mtok",
}


def load_dataset(workdir: pathlib.Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir),
         f"{PACKAGE}=={PINNED_VERSION}"],
        check=True,
    )
    wheels = list(workdir.glob("genai_prices-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one wheel in {workdir}, found {wheels}")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(workdir / "pkg")
    root = workdir / "pkg" / "genai_prices"
    # Stand-in package: skip __init__.py and its network dependencies.
    stub = types.ModuleType("genai_prices")
    stub.__path__ = [str(root)]
    sys.modules["genai_prices"] = stub
    from genai_prices import data, types as gtypes  # noqa: PLC0415

    return data.providers, gtypes


def num(d: decimal.Decimal) -> str:
    text = format(d.normalize(), "f")
    return text if text not in ("-0",) else "0"


def price_value(v, t) -> str:
    if isinstance(v, t.TieredPrices):
        tiers = ", ".join(f"{{start: {tier.start}, price: {num(tier.price)}}}" for tier in v.tiers)
        return f"{{base: {num(v.base)}, tiers: [{tiers}]}}"
    return num(v)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clause(m, t) -> str:
    if isinstance(m, t.ClauseEquals):
        return f"{{equals: {quote(m.equals)}}}"
    if isinstance(m, t.ClauseStartsWith):
        return f"{{starts_with: {quote(m.starts_with)}}}"
    if isinstance(m, t.ClauseEndsWith):
        return f"{{ends_with: {quote(m.ends_with)}}}"
    if isinstance(m, t.ClauseContains):
        return f"{{contains: {quote(m.contains)}}}"
    if isinstance(m, t.ClauseRegex):
        # Rust's regex has no look-around. A whole-pattern negative lookahead at the start,
        # `^(?!X)`, is written as `{not: {regex: "^X"}}`; any other look-around is an error.
        neg = re.fullmatch(r"\^\(\?!(.*)\)", m.regex)
        if neg:
            return f"{{not: {{regex: {quote('^' + neg.group(1))}}}}}"
        if re.search(r"\(\?<?[!=]", m.regex):
            raise SystemExit(f"regex {m.regex!r} uses look-around, which Rust's regex lacks")
        return f"{{regex: {quote(m.regex)}}}"
    if isinstance(m, t.ClauseOr):
        return "{or: [" + ", ".join(clause(x, t) for x in m.or_) + "]}"
    if isinstance(m, t.ClauseAnd):
        return "{and: [" + ", ".join(clause(x, t) for x in m.and_) + "]}"
    raise SystemExit(f"unknown match clause {m!r}")


def price_lines(mp, t, since) -> list[str] | None:
    fields = []
    for src, dst in FIELDS.items():
        v = getattr(mp, src, None)
        if v is not None:
            fields.append(f"{dst}: {price_value(v, t)}")
    if not any(f.startswith(("input_mtok", "output_mtok")) for f in fields):
        return None
    head = f"since: {since}, " if since else ""
    return ["      - {" + head + ", ".join(fields) + "}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument("--out", default=str(here / "config" / "prices.yaml"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        providers, t = load_dataset(pathlib.Path(tmp))
        out = [
            "# tracegate's model price table. GENERATED by scripts/gen_prices.py: do not edit by hand;",
            "# add or override prices in the genai_normalize processor's `prices:` instead.",
            f"# Source: the `{PACKAGE}` package on PyPI (https://pypi.org/project/{PACKAGE}/,",
            "# https://github.com/pydantic/genai-prices, MIT), file genai_prices/data.py.",
            "# Prices are USD per million tokens. A tiered price is `{base, tiers: [{start, price}]}`:",
            "# above `start` input tokens the request is priced at `price`. `since` is an effective date.",
            "source:",
            f"  package: {PACKAGE}",
            f"  version: {PINNED_VERSION}",
            f"  url: https://pypi.org/project/{PACKAGE}/{PINNED_VERSION}/",
            "models:",
        ]
        count = 0
        for p in providers:
            if p.id not in PROVIDERS:
                continue
            for m in p.models:
                prices = m.prices if isinstance(m.prices, list) else [m.prices]
                lines: list[str] = []
                for c in prices:
                    since = None
                    mp = c
                    if isinstance(c, t.ConditionalPrice):
                        mp = c.prices
                        if isinstance(c.constraint, t.TimeOfDateConstraint):
                            continue
                        if isinstance(c.constraint, t.StartDateConstraint):
                            since = c.constraint.start_date.isoformat()
                    lines += price_lines(mp, t, since) or []
                if not lines:
                    continue
                count += 1
                out.append(f"  - provider: {PROVIDERS[p.id]}")
                out.append(f"    model: {quote(m.id)}")
                out.append(f"    match: {clause(m.match, t)}")
                out.append("    prices:")
                out.extend(lines)
        pathlib.Path(args.out).write_text("\n".join(out) + "\n")
        print(f"wrote {count} models to {args.out}")


if __name__ == "__main__":
    main()
