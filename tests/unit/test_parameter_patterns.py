"""Every host parameter's pattern must survive the SSM Agent, which compiles it with Go's ``regexp`` (RE2).

google-re2 has Go's rules (checked side by side with Go 1.19, docs/ssm.md); ``test_re2_has_gos_rules``
pins the facts we rely on, so a google-re2 upgrade that changed them would fail here first. Every test
walks the whole table (``PARAMETERS`` / ``SCRIPT_PARAMETERS``): a parameter added later is checked too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typeshed types the parser under its old public names (deprecated aliases of these)
    import sre_constants as sre
    import sre_parse
else:  # the parser's node names and parser (test-only use of private modules)
    from re import _constants as sre
    from re import _parser as sre_parse

import pytest
import re2

from freshtrack_ops.config import HEALTH_URL_PATTERN, LocalTarget
from freshtrack_ops.host_scripts.parameters import (
    MAX_REPEAT_BUDGET,
    PARAMETERS,
    PRESIGNED_URL_PATTERN,
    SCRIPT_PARAMETERS,
    HostParameter,
    check_values,
)
from freshtrack_ops.host_scripts.ssm_document import (
    CommandDocument,
    document_content,
    document_scripts,
    resolve_parameters,
)
from opsctl.local.ssm_executor import agent_check

SCRIPTS = sorted(SCRIPT_PARAMETERS)
#: the scripts with an SSM Command document (every one but the SSH-only ones)
DOCUMENT_SCRIPTS = document_scripts()
NAMES = sorted(PARAMETERS)
#: the pattern this issue replaces: the SSM Agent refused every document declaring it
OLD_PRESIGNED_URL_PATTERN = (
    r"^(https://[a-z0-9][a-z0-9.-]{0,200}\.amazonaws\.com(\.cn)?|http://127\.0\.0\.1:[1-9][0-9]{0,4})"
    r"/[A-Za-z0-9._~%/-]{1,1100}\?[A-Za-z0-9._~%=&-]{1,6000}$"
)
#: Unicode digits: Python's \d would take them, RE2's would not (our classes spell out [0-9])
ARABIC_ONE, ARABIC_THREE = "\u0661", "\u0663"
OLD_SERVICES_PATTERN = r"^([a-z][a-z0-9_-]{0,62}( [a-z][a-z0-9_-]{0,62}){0,15})?$"
OLD_HEALTH_URL_PATTERN = r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]{0,1000})?$"


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def _compiles(pattern: str) -> bool:
    try:
        _re2(pattern)
    except re2.error:
        return False
    return True


# -- what RE2 (and so the agent) accepts ----------------------------------------------------------------
def test_re2_has_gos_rules() -> None:
    """What google-re2 did in our experiments, identical to Go 1.19's regexp.Compile on each pattern."""
    assert _compiles("a{1000}")
    assert not _compiles("a{1001}")
    assert not _compiles("[a-z]{1,1100}")
    assert not _compiles("[a-z]{1,6000}")
    # nested repeats multiply: 62 x 16 = 992 compiles, 62 x 17 = 1054 does not
    assert _compiles("(x{0,62}){0,16}")
    assert not _compiles("(x{0,62}){0,17}")
    assert not _compiles("((a{10}){10}){11}")
    assert not _compiles("(a{2,}){501}")  # an open repeat counts its minimum
    assert _compiles("(x{0,62})*")  # * + ? are not counted
    assert not _compiles(r"(a)\1")
    assert not _compiles("(?=a)")
    assert not _compiles("(?<=a)b")
    # {,n} is a literal for RE2 (and Go) but a repeat for Python: a pattern must never use it
    assert _re2("^a{,2}$").search("a{,2}") and not _re2("^a{,2}$").search("aa")
    assert re.fullmatch("a{,2}", "aa")


def test_the_old_patterns_do_not_survive_the_agent() -> None:
    """The patterns before this change: the presigned-URL one does not compile at all; SERVICES and HEALTH_URL
    compiled, but at 930 and 1000 of Go's 1000 (no margin for any change)."""
    assert not _compiles(OLD_PRESIGNED_URL_PATTERN)
    assert _repeat_product(OLD_SERVICES_PATTERN) == 930
    assert _repeat_product(OLD_HEALTH_URL_PATTERN) == 1000
    content = document_content("ssm_archive_list.sh")
    # the URL is no parameter any more (it travels in the host exchange object): declared here as it once was
    content["parameters"]["OBJECT_URL"] = {"type": "String", "allowedPattern": OLD_PRESIGNED_URL_PATTERN}
    refusal = agent_check(content, {"OBJECT_URL": "http://127.0.0.1:9/b/k?X-Amz-Signature=0a"} | _required(content))
    assert refusal is not None
    assert "/OBJECT_URL/" in refusal and "invalid repetition size: {1,1100}" in refusal


@pytest.mark.parametrize("script", DOCUMENT_SCRIPTS)
def test_every_pattern_of_every_generated_document_compiles_under_re2_and_declares_max_chars(script: str) -> None:
    content = document_content(script)
    assert agent_check(content, _required(content)) is None
    for name, declared in content["parameters"].items():
        assert _compiles(_pattern(declared)), (script, name)
        assert isinstance(declared["maxChars"], int), (script, name)
        assert declared["maxChars"] == PARAMETERS[name].max_chars >= 1, (script, name)


@pytest.mark.parametrize("name", NAMES)
def test_repeat_counts_stay_well_under_gos_limit(name: str) -> None:
    """Every count, and every product of nested counts, is at most MAX_REPEAT_BUDGET (Go refuses over 1000)."""
    assert _repeat_product(PARAMETERS[name].pattern) <= MAX_REPEAT_BUDGET <= 1000 // 3


@pytest.mark.parametrize("name", NAMES)
def test_patterns_are_anchored_as_one_unit_and_avoid_syntax_python_and_re2_read_differently(name: str) -> None:
    pattern = PARAMETERS[name].pattern
    # the top-level nodes (typeshed's node type lacks AT's argument, a constant: compared as objects here)
    parsed: Sequence[tuple[object, object]] = sre_parse.parse(pattern).data
    # ^ first and $ last at the top level (a top-level | would parse as one BRANCH node): Go's MatchString
    # searches, Python's fullmatch and Java's matches match the whole value; anchoring makes them agree
    assert parsed[0] == (sre.AT, sre.AT_BEGINNING), pattern
    assert parsed[-1] == (sre.AT, sre.AT_END), pattern
    assert all(node[0] is not sre.AT for node in parsed[1:-1]), pattern
    for construct in (r"\d", r"\w", r"\s", r"\b", "{,", "&&", "\\1"):
        assert construct not in pattern, (name, construct)
    assert re.search(r"\(\?(?!:)", pattern) is None, (name, "no lookaround, named group or inline flag")


@pytest.mark.parametrize("name", NAMES)
def test_max_chars_is_the_longest_value_a_bounded_pattern_takes(name: str) -> None:
    spec = PARAMETERS[name]
    _low, high = sre_parse.parse(spec.pattern).getwidth()
    if high < sre.MAXREPEAT:  # bounded: maxChars says exactly what the pattern says
        assert spec.max_chars == high, (name, high)


@pytest.mark.parametrize("name", NAMES)
def test_python_re_and_re2_agree_on_every_value(name: str) -> None:
    """The Lambda checks with Python's re.fullmatch, the agent with Go's MatchString: same verdict on values
    drawn from the pattern itself, then mutated (extra characters around them, a trailing newline, Unicode
    digits and letters, doubled text, truncation)."""
    pattern = PARAMETERS[name].pattern
    compiled = _re2(pattern)
    rng = random.Random(name)
    values: list[str] = []
    for _ in range(60):
        value = _sample(sre_parse.parse(pattern), rng)
        values += [
            value,
            value + "\n",
            "x" + value,
            value + "x",
            value + value,
            value[:-1],
            value + ARABIC_ONE,
            "\u00e9" + value,
        ]
        values += [value.replace(c, ARABIC_THREE, 1) for c in "0123456789" if c in value][:1]
    values += ["", " ", "\n", "-", "/", "?", "&", "..", "\x00", "a" * 300]
    for value in values:
        python = re.fullmatch(pattern, value) is not None
        agent = compiled.search(value) is not None
        assert python == agent, (name, value)


@pytest.mark.parametrize("name", NAMES)
def test_check_values_refuses_a_value_over_max_chars_on_every_parameter(name: str) -> None:
    spec = PARAMETERS[name]
    rng = random.Random(name)
    # a sample within max_chars (nested unbounded repeats, as in the host paths, can draw longer ones)
    value = next(
        v for v in (_sample(sre_parse.parse(spec.pattern), rng) for _ in range(500)) if len(v) <= spec.max_chars
    )
    too_long = value + "x" * (spec.max_chars + 1 - len(value))
    script = next((s for s in SCRIPTS if name in SCRIPT_PARAMETERS[s]), None)
    if script is None:  # EXCHANGE_URL: declared by documents, set by the adapter, never read by a script
        content = next(c for c in map(document_content, DOCUMENT_SCRIPTS) if name in c["parameters"])
        resolve_parameters(content, {name: value} | _required(content))
        with pytest.raises(ValueError, match=rf"parameter {name}: .* exceeds maxChars {spec.max_chars}"):
            resolve_parameters(content, _required(content) | {name: too_long})
        return
    check_values(script, {name: value})
    with pytest.raises(ValueError, match=rf"^env: {name} is longer than its {spec.max_chars} characters"):
        check_values(script, {name: too_long})


def test_services_and_health_url_keep_their_old_reach() -> None:
    """What the old patterns accepted at their longest is still accepted (the bound moved to maxChars)."""
    sixteen = " ".join(f"{i:x}" * 63 for i in range(10, 16)) + " " + " ".join(["a" * 63] * 10)
    assert len(sixteen) == PARAMETERS["SERVICES"].max_chars
    check_values("services.sh", {"SERVICES": sixteen})
    url = "https://" + "h" * 253 + ":65535/" + "p" * 1000
    check_values("health.sh", {"HEALTH_URL": url})
    assert re.fullmatch(HEALTH_URL_PATTERN, url)


def test_a_health_url_over_its_max_chars_is_refused_by_the_configuration() -> None:
    url = "https://demo.example/" + "p" * 2050  # over our 2048, under pydantic's own 2083 for URLs
    with pytest.raises(ValueError, match="at most 2048 characters"):
        LocalTarget(id="demo", domain="demo.example", health_url=url, health_check_from="host")


def test_every_parameter_must_declare_max_chars() -> None:
    with pytest.raises(TypeError, match="max_chars"):
        HostParameter("NEW", "^a$", "a new parameter")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="longer than max_chars"):
        HostParameter("NEW", "^a*$", "a new parameter", "aaa", max_chars=2)


def test_the_presigned_url_pattern_is_the_one_both_url_parameters_declare() -> None:
    assert PARAMETERS["OBJECT_URL"].pattern == PARAMETERS["PART_URLS_URL"].pattern == PRESIGNED_URL_PATTERN
    assert PARAMETERS["OBJECT_URL"].credential and PARAMETERS["PART_URLS_URL"].credential


# -- helpers --------------------------------------------------------------------------------------------
def _required(content: CommandDocument) -> dict[str, str]:
    """A valid value for every required parameter of a document (drawn from its own pattern)."""
    rng = random.Random(0)
    return {name: _fitting_sample(spec, rng) for name, spec in content["parameters"].items() if "default" not in spec}


def _fitting_sample(declared: Mapping[str, str | int], rng: random.Random) -> str:
    """A sample of the declared pattern within its maxChars (the host paths' nested repeats can draw longer)."""
    limit = int(declared.get("maxChars", 4096))
    parsed = sre_parse.parse(_pattern(declared))
    return next(v for v in (_sample(parsed, rng) for _ in range(500)) if len(v) <= limit)


def _pattern(declared: Mapping[str, str | int]) -> str:
    """A declared parameter's allowedPattern (typed ``str | int`` like its other fields; always a str)."""
    pattern = declared["allowedPattern"]
    assert isinstance(pattern, str), pattern
    return pattern


def _repeat_product(pattern: str) -> int:
    """The largest product of nested repeat counts, as Go's ``repeatIsValid`` counts them: ``{n,m}`` counts m,
    ``{n,}`` counts n; ``*``, ``+`` and ``?`` count 1."""

    def walk(items: Any) -> int:
        best = 1
        for op, arg in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                low, high, sub = arg
                count = high if high < sre.MAXREPEAT else max(low, 1)
                best = max(best, max(count, 1) * walk(sub))
            elif op is sre.SUBPATTERN:
                best = max(best, walk(arg[3]))
            elif op is sre.BRANCH:
                best = max([best, *(walk(alt) for alt in arg[1])])
        return best

    return walk(sre_parse.parse(pattern))


def _sample(items: Any, rng: random.Random) -> str:
    """A random string matching the parsed pattern ``items`` (the constructs our patterns use)."""
    out: list[str] = []
    for op, arg in items:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.IN:
            chars: list[str] = []
            for kind, value in arg:
                if kind is sre.LITERAL:
                    chars.append(chr(value))
                elif kind is sre.RANGE:
                    chars += [chr(c) for c in range(value[0], value[1] + 1)]
                else:
                    raise AssertionError(f"unsupported class item {kind}")
            out.append(rng.choice(chars))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, sub = arg
            count = rng.randint(low, min(high, low + 40) if high < sre.MAXREPEAT else low + 40)
            out += [_sample(sub, rng) for _ in range(count)]
        elif op is sre.SUBPATTERN:
            out.append(_sample(arg[3], rng))
        elif op is sre.BRANCH:
            out.append(_sample(rng.choice(arg[1]), rng))
        elif op is sre.AT:
            continue
        else:
            raise AssertionError(f"unsupported pattern construct {op}")
    return "".join(out)
