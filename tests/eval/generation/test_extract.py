"""Stop sequences and code extraction on hand-written model outputs."""

import ast

from codemix.eval.generation.extract import (
    COMPLETION_STOPS,
    completion_stops,
    extract_code,
    find_stop,
    sanitize,
    truncate_at_stop,
)

PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    """
'''


def _run(program: str, call: str):
    namespace: dict = {}
    exec(compile(program, "<sample>", "exec"), namespace)
    return eval(call, namespace)


# ---------------------------------------------------------------- stop sequences

def test_completion_stops_cut_at_the_next_top_level_statement():
    body = "    return any(abs(a - b) < threshold for a in numbers for b in numbers if a is not b)\n"
    for tail in ("\ndef check():\n    pass\n", "\nclass X:\n    pass\n", "\nif __name__ == '__main__':\n    main()\n",
                 "\nprint(has_close_elements([1.0], 0.5))\n", "\n# test\n", "\n@decorator\ndef g(): pass\n",
                 "\nassert has_close_elements([1.0, 1.1], 0.5)\n", "\n```\nSome prose"):
        text, stop = truncate_at_stop(body + tail, COMPLETION_STOPS)
        assert text == body, tail
        assert stop is not None and (body + tail)[len(body):].startswith(stop)


def test_completion_stops_keep_nested_code_and_lookalike_names():
    text = ("    def helper(x):\n        # inner comment\n        if x:\n            print(x)\n"
            "        return x\n    return helper(1)\ndefault_value = 3\nifs = 2\nprinter = 1\n")
    assert truncate_at_stop(text, COMPLETION_STOPS) == (text, None)


def test_a_prompt_without_the_signature_gets_program_level_stops():
    assert completion_stops(PROMPT, "has_close_elements") == COMPLETION_STOPS
    mbpp_prompt = '"""\nWrite a function to add one.\nassert add_one(1) == 2\n"""\n'
    stops = completion_stops(mbpp_prompt, "add_one")
    program = ("import math\n\ndef helper(x):\n    return x\n\n# main\ndef add_one(x):\n    return helper(x) + 1\n"
               "\nassert add_one(1) == 2\nprint(add_one(2))\n")
    text, stop = truncate_at_stop(program, stops)
    assert stop == "\nassert " and text == program[: program.index("\nassert")]
    assert "def helper" in text and "# main" in text


def test_earliest_stop_wins_and_empty_stops_are_ignored():
    assert find_stop("a\n#b\ndef c", ["\ndef ", "\n#", ""]) == (1, "\n#")
    assert truncate_at_stop("abc", []) == ("abc", None)


# ---------------------------------------------------------------- extraction

def test_fenced_block_with_prose_around_it():
    response = ("Sure! Here is the implementation:\n\n```python\n"
                "def has_close_elements(numbers, threshold):\n"
                "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
                "```\n\nThis checks every pair. Example: `has_close_elements([1.0, 2.8], 0.3)` returns False.")
    ex = extract_code(response, "has_close_elements", PROMPT)
    assert ex.source == "fence" and ex.parsed
    assert "Sure" not in ex.code and "This checks" not in ex.code
    assert ex.code.startswith("from typing import List\n")  # the prompt's import is carried over
    assert _run(ex.code, "has_close_elements([1.0, 2.8, 3.0], 0.3)") is True


def test_unfenced_code_with_prose_before_and_after():
    response = ("Here is a solution.\n\ndef add(a, b):\n    # sum of both\n    return a + b\n\n"
                "This function returns the sum of a and b.\n")
    ex = extract_code(response, "add")
    assert ex.source == "text" and ex.parsed
    assert ex.code == "def add(a, b):\n    # sum of both\n    return a + b\n"


def test_no_code_in_the_response():
    ex = extract_code("I am sorry, I cannot help with that request.\nPlease ask something else.", "add")
    assert ex == type(ex)(code="", source="none", parsed=False)


def test_several_functions_keep_the_entry_point_and_its_helpers_only():
    response = ("```python\nimport math\n\nSCALE = 2\nUNUSED = 5\n\n"
                "def _square(x):\n    return x * x * SCALE // SCALE\n\n"
                "def unrelated():\n    return 0\n\n"
                "def hypot(a, b):\n    return math.sqrt(_square(a) + _square(b))\n\n"
                "print(hypot(3, 4))\nassert hypot(3, 4) == 6\n"
                "if __name__ == '__main__':\n    hypot(1, 1)\n```")
    ex = extract_code(response, "hypot")
    names = {n.name for n in ast.parse(ex.code).body if isinstance(n, ast.FunctionDef)}
    assert names == {"_square", "hypot"}
    assert "SCALE = 2" in ex.code and "UNUSED" not in ex.code
    assert "print" not in ex.code and "assert" not in ex.code and "__main__" not in ex.code
    assert _run(ex.code, "hypot(3, 4)") == 5.0


def test_the_block_defining_the_entry_point_is_chosen_among_several():
    response = ("Install nothing:\n```bash\npip list\n```\nFirst a helper idea:\n```python\ndef other(x):\n"
                "    return x\n```\nThe answer:\n```python\ndef target(x):\n    return x + 1\n```\nUsage:\n"
                "```python\nprint(target(1))\n```")
    ex = extract_code(response, "target")
    assert ex.code == "def target(x):\n    return x + 1\n"


def test_unterminated_fence_and_unfenced_prose_between_functions():
    ex = extract_code("```python\ndef f(x):\n    return g(x) * 2\n\ndef g(x):\n    return x + 1\n", "f")
    assert ex.source == "fence" and _run(ex.code, "f(1)") == 4

    text = "def g(x):\n    return x + 1\n\nNow the main function:\n\ndef f(x):\n    return g(x) * 2\nDone."
    ex = extract_code(text, "f")
    assert ex.source == "text" and _run(ex.code, "f(1)") == 4


def test_body_only_answer_continues_the_prompt_signature():
    ex = extract_code("```python\n    return len(numbers) > 1 and threshold > 100\n```",
                      "has_close_elements", PROMPT)
    assert ex.code.startswith(PROMPT) and ex.parsed
    assert _run(ex.code, "has_close_elements([1.0, 2.0], 1000.0)") is True


def test_unparseable_code_is_kept_so_it_fails_honestly():
    ex = extract_code("```python\ndef f(x:\n    return x\n```", "f")
    assert not ex.parsed and "def f(x:" in ex.code


def test_sanitize_drops_test_code_that_calls_the_solution():
    code = "def f():\n    return 1\n\nresult = f()\nLIMIT = 10\n"
    assert sanitize(code, None) == "def f():\n    return 1\n\nLIMIT = 10\n"
    assert sanitize("def f(:\n", "f") == "def f(:\n"
